// linux.resources parsing (config-linux.md "Control groups"): typed values, absent fields left
// unset, and every wrong type refused with an error that names the field.
#include "oci/resources.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.hpp"

using berth::Error;
using berth::oci::parse_resources;
using nlohmann::json;

namespace {

// The error parse_resources throws for `text`, "" if it accepts it.
std::string error_of(const std::string& text) {
  try {
    parse_resources(json::parse(text));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Resources, ParsesEveryField) {
  // The example of config-linux.md, plus the fields it leaves out.
  auto r = parse_resources(json::parse(R"({
    "devices": [
      {"allow": false, "access": "rwm"},
      {"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rw"},
      {"allow": true, "type": "b", "major": 8, "access": "m"}
    ],
    "memory": {"limit": 536870912, "reservation": 536870912, "swap": 536870912,
               "kernel": -1, "kernelTCP": -1, "swappiness": 0, "disableOOMKiller": false,
               "useHierarchy": true, "checkBeforeUpdate": false},
    "cpu": {"shares": 1024, "quota": 1000000, "burst": 1000, "period": 500000,
            "realtimeRuntime": 950000, "realtimePeriod": 1000000, "cpus": "2-3", "mems": "0-7",
            "idle": 0},
    "pids": {"limit": 32771},
    "blockIO": {
      "weight": 10, "leafWeight": 10,
      "weightDevice": [{"major": 8, "minor": 0, "weight": 500, "leafWeight": 300},
                       {"major": 8, "minor": 16, "weight": 500}],
      "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
      "throttleWriteBpsDevice": [{"major": 8, "minor": 16, "rate": 300}],
      "throttleReadIOPSDevice": [{"major": 8, "minor": 0, "rate": 100}],
      "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 50}]
    },
    "hugepageLimits": [{"pageSize": "2MB", "limit": 209715200}, {"pageSize": "64KB", "limit": 1000000}],
    "network": {"classID": 1048577, "priorities": [{"name": "eth0", "priority": 500}]},
    "rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}},
    "unified": {"io.max": "259:0 rbps=2097152", "memory.high": "1073741824"},
    "someFutureField": {"x": 1}
  })"));

  ASSERT_EQ(r.devices.size(), 3u);
  EXPECT_FALSE(r.devices[0].allow);
  EXPECT_EQ(r.devices[0].type, "a");  // absent type means all devices
  EXPECT_FALSE(r.devices[0].major);
  EXPECT_EQ(r.devices[1].type, "c");
  EXPECT_EQ(*r.devices[1].major, 10);
  EXPECT_EQ(*r.devices[1].minor, 229);
  EXPECT_EQ(r.devices[1].access, "rw");
  EXPECT_FALSE(r.devices[2].minor);

  ASSERT_TRUE(r.memory);
  EXPECT_EQ(*r.memory->limit, 536870912);
  EXPECT_EQ(*r.memory->reservation, 536870912);
  EXPECT_EQ(*r.memory->swap, 536870912);
  EXPECT_EQ(*r.memory->kernel, -1);
  EXPECT_EQ(*r.memory->kernelTCP, -1);
  EXPECT_EQ(*r.memory->swappiness, 0u);
  EXPECT_FALSE(*r.memory->disableOOMKiller);
  EXPECT_TRUE(*r.memory->useHierarchy);
  EXPECT_FALSE(*r.memory->checkBeforeUpdate);

  ASSERT_TRUE(r.cpu);
  EXPECT_EQ(*r.cpu->shares, 1024u);
  EXPECT_EQ(*r.cpu->quota, 1000000);
  EXPECT_EQ(*r.cpu->burst, 1000u);
  EXPECT_EQ(*r.cpu->period, 500000u);
  EXPECT_EQ(*r.cpu->realtimeRuntime, 950000);
  EXPECT_EQ(*r.cpu->realtimePeriod, 1000000u);
  EXPECT_EQ(r.cpu->cpus, "2-3");
  EXPECT_EQ(r.cpu->mems, "0-7");
  EXPECT_EQ(*r.cpu->idle, 0);

  EXPECT_EQ(*r.pidsLimit, 32771);

  ASSERT_TRUE(r.blockIO);
  EXPECT_EQ(*r.blockIO->weight, 10);
  EXPECT_EQ(*r.blockIO->leafWeight, 10);
  ASSERT_EQ(r.blockIO->weightDevice.size(), 2u);
  EXPECT_EQ(r.blockIO->weightDevice[0].major, 8);
  EXPECT_EQ(*r.blockIO->weightDevice[0].weight, 500);
  EXPECT_EQ(*r.blockIO->weightDevice[0].leafWeight, 300);
  EXPECT_FALSE(r.blockIO->weightDevice[1].leafWeight);
  ASSERT_EQ(r.blockIO->throttleReadBpsDevice.size(), 1u);
  EXPECT_EQ(r.blockIO->throttleReadBpsDevice[0].rate, 600u);
  EXPECT_EQ(r.blockIO->throttleWriteBpsDevice[0].minor, 16);
  EXPECT_EQ(r.blockIO->throttleReadIOPSDevice[0].rate, 100u);
  EXPECT_EQ(r.blockIO->throttleWriteIOPSDevice[0].rate, 50u);

  ASSERT_EQ(r.hugepageLimits.size(), 2u);
  EXPECT_EQ(r.hugepageLimits[0].pageSize, "2MB");
  EXPECT_EQ(r.hugepageLimits[0].limit, 209715200u);

  EXPECT_EQ(r.unified.size(), 2u);
  EXPECT_EQ(r.unified.at("io.max"), "259:0 rbps=2097152");
}

TEST(Resources, AbsentAndNullFieldsStayUnset) {
  auto r = parse_resources(json::object());
  EXPECT_TRUE(r.devices.empty());
  EXPECT_FALSE(r.memory);
  EXPECT_FALSE(r.cpu);
  EXPECT_FALSE(r.pidsLimit);
  EXPECT_FALSE(r.blockIO);
  EXPECT_TRUE(r.hugepageLimits.empty());
  EXPECT_TRUE(r.unified.empty());

  r = parse_resources(json::parse(R"({"memory": {"limit": 1048576, "swap": null}, "cpu": {},
                                      "devices": null})"));
  ASSERT_TRUE(r.memory);
  EXPECT_EQ(*r.memory->limit, 1048576);
  EXPECT_FALSE(r.memory->swap);
  EXPECT_FALSE(r.memory->reservation);
  ASSERT_TRUE(r.cpu);
  EXPECT_FALSE(r.cpu->shares);
  EXPECT_TRUE(r.cpu->cpus.empty());
}

TEST(Resources, UnlimitedValues) {
  auto r =
      parse_resources(json::parse(R"({"memory": {"limit": -1, "swap": -1}, "cpu": {"quota": -1},
                                           "pids": {"limit": -1}})"));
  EXPECT_EQ(*r.memory->limit, -1);
  EXPECT_EQ(*r.memory->swap, -1);
  EXPECT_EQ(*r.cpu->quota, -1);
  EXPECT_EQ(*r.pidsLimit, -1);
  // Docker's "not set" swappiness, as -1 and as Go's uint64(-1).
  r = parse_resources(json::parse(R"({"memory": {"swappiness": -1}})"));
  EXPECT_FALSE(r.memory->swappiness);
  r = parse_resources(json::parse(R"({"memory": {"swappiness": 18446744073709551615}})"));
  EXPECT_FALSE(r.memory->swappiness);
  // 64-bit values survive.
  r = parse_resources(json::parse(R"({"memory": {"limit": 9223372036854775807}})"));
  EXPECT_EQ(*r.memory->limit, INT64_MAX);
}

TEST(Resources, RejectsBadTypesNamingTheField) {
  struct Case {
    const char* config;
    const char* field;  // what the message must name
  };
  const Case cases[] = {
      {R"([])", "linux.resources"},
      {R"({"devices": {}})", "linux.resources.devices"},
      {R"({"devices": [1]})", "linux.resources.devices[0]"},
      {R"({"devices": [{"access": "rwm"}]})", "linux.resources.devices[0].allow"},
      {R"({"devices": [{"allow": "yes"}]})", "linux.resources.devices[0].allow"},
      {R"({"devices": [{"allow": true, "type": "x"}]})", "linux.resources.devices[0].type"},
      {R"({"devices": [{"allow": true, "type": 99}]})", "linux.resources.devices[0].type"},
      {R"({"devices": [{"allow": true, "major": "1"}]})", "linux.resources.devices[0].major"},
      {R"({"devices": [{"allow": true, "minor": 1.5}]})", "linux.resources.devices[0].minor"},
      {R"({"devices": [{"allow": true}, {"allow": true, "access": "rwx"}]})",
       "linux.resources.devices[1].access"},
      {R"({"devices": [{"allow": true, "access": 7}]})", "linux.resources.devices[0].access"},
      {R"({"memory": 5})", "linux.resources.memory"},
      {R"({"memory": {"limit": "1g"}})", "linux.resources.memory.limit"},
      {R"({"memory": {"limit": 1.5}})", "linux.resources.memory.limit"},
      {R"({"memory": {"limit": -2}})", "linux.resources.memory.limit"},
      {R"({"memory": {"limit": 18446744073709551615}})", "linux.resources.memory.limit"},
      {R"({"memory": {"reservation": true}})", "linux.resources.memory.reservation"},
      {R"({"memory": {"reservation": -5}})", "linux.resources.memory.reservation"},
      {R"({"memory": {"swap": "x"}})", "linux.resources.memory.swap"},
      {R"({"memory": {"limit": 200, "swap": 100}})", "linux.resources.memory.swap"},
      {R"({"memory": {"kernel": []}})", "linux.resources.memory.kernel"},
      {R"({"memory": {"kernelTCP": "0"}})", "linux.resources.memory.kernelTCP"},
      {R"({"memory": {"swappiness": 101}})", "linux.resources.memory.swappiness"},
      {R"({"memory": {"swappiness": -3}})", "linux.resources.memory.swappiness"},
      {R"({"memory": {"swappiness": "60"}})", "linux.resources.memory.swappiness"},
      {R"({"memory": {"disableOOMKiller": 1}})", "linux.resources.memory.disableOOMKiller"},
      {R"({"memory": {"useHierarchy": "true"}})", "linux.resources.memory.useHierarchy"},
      {R"({"memory": {"checkBeforeUpdate": 0}})", "linux.resources.memory.checkBeforeUpdate"},
      {R"({"cpu": []})", "linux.resources.cpu"},
      {R"({"cpu": {"shares": -5}})", "linux.resources.cpu.shares"},
      {R"({"cpu": {"shares": "1024"}})", "linux.resources.cpu.shares"},
      {R"({"cpu": {"quota": 0.5}})", "linux.resources.cpu.quota"},
      {R"({"cpu": {"period": -100000}})", "linux.resources.cpu.period"},
      {R"({"cpu": {"burst": "1"}})", "linux.resources.cpu.burst"},
      {R"({"cpu": {"realtimeRuntime": "1"}})", "linux.resources.cpu.realtimeRuntime"},
      {R"({"cpu": {"realtimePeriod": -1}})", "linux.resources.cpu.realtimePeriod"},
      {R"({"cpu": {"idle": false}})", "linux.resources.cpu.idle"},
      {R"({"cpu": {"cpus": 3}})", "linux.resources.cpu.cpus"},
      {R"({"cpu": {"mems": [0]}})", "linux.resources.cpu.mems"},
      {R"({"pids": 10})", "linux.resources.pids"},
      {R"({"pids": {}})", "linux.resources.pids.limit"},
      {R"({"pids": {"limit": "10"}})", "linux.resources.pids.limit"},
      {R"({"blockIO": "x"})", "linux.resources.blockIO"},
      {R"({"blockIO": {"weight": 70000}})", "linux.resources.blockIO.weight"},
      {R"({"blockIO": {"weight": -1}})", "linux.resources.blockIO.weight"},
      {R"({"blockIO": {"leafWeight": "5"}})", "linux.resources.blockIO.leafWeight"},
      {R"({"blockIO": {"weightDevice": {}}})", "linux.resources.blockIO.weightDevice"},
      {R"({"blockIO": {"weightDevice": [{"minor": 0, "weight": 5}]}})",
       "linux.resources.blockIO.weightDevice[0]"},
      {R"({"blockIO": {"weightDevice": [{"major": 8, "minor": 0, "weight": "5"}]}})",
       "linux.resources.blockIO.weightDevice[0].weight"},
      {R"({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}})",
       "linux.resources.blockIO.throttleReadBpsDevice[0].rate"},
      {R"({"blockIO": {"throttleWriteBpsDevice": [{"major": 8, "minor": 0, "rate": -1}]}})",
       "linux.resources.blockIO.throttleWriteBpsDevice[0].rate"},
      {R"({"blockIO": {"throttleReadIOPSDevice": [{"major": "8", "minor": 0, "rate": 1}]}})",
       "linux.resources.blockIO.throttleReadIOPSDevice[0].major"},
      {R"({"blockIO": {"throttleWriteIOPSDevice": 1}})",
       "linux.resources.blockIO.throttleWriteIOPSDevice"},
      {R"({"hugepageLimits": {}})", "linux.resources.hugepageLimits"},
      {R"({"hugepageLimits": [{"limit": 1}]})", "linux.resources.hugepageLimits[0].pageSize"},
      {R"({"hugepageLimits": [{"pageSize": "../2MB", "limit": 1}]})",
       "linux.resources.hugepageLimits[0].pageSize"},
      {R"({"hugepageLimits": [{"pageSize": "2MB"}]})", "linux.resources.hugepageLimits[0].limit"},
      {R"({"hugepageLimits": [{"pageSize": "2MB", "limit": -1}]})",
       "linux.resources.hugepageLimits[0].limit"},
      {R"({"unified": []})", "linux.resources.unified"},
      {R"({"unified": {"memory.max": 5}})", "linux.resources.unified.memory.max"},
      {R"({"unified": {"../../etc/passwd": "x"}})", "linux.resources.unified"},
      {R"({"unified": {"a/b": "x"}})", "linux.resources.unified"},
  };
  for (auto& c : cases) {
    const std::string msg = error_of(c.config);
    EXPECT_NE(msg.find(std::string(c.field) + ":"), std::string::npos)
        << "config " << c.config << "\n  error: `" << msg << "`\n  should name " << c.field;
  }
}

TEST(Resources, ParsesAndRejects) {
  auto r = parse_resources(json::parse(R"({
    "devices": [{"allow": false, "access": "rwm"}, {"allow": true, "type": "c", "major": 1, "minor": 3, "access": "rw"}],
    "memory": {"limit": 1000, "swap": 2000}, "cpu": {"shares": 512, "cpus": "0-1"},
    "pids": {"limit": 10}, "hugepageLimits": [{"pageSize": "2MB", "limit": 0}],
    "unified": {"memory.high": "100"}})"));
  EXPECT_EQ(r.devices.size(), 2u);
  EXPECT_EQ(r.devices[0].type, "a");
  EXPECT_EQ(*r.memory->limit, 1000);
  EXPECT_EQ(*r.cpu->shares, 512u);
  EXPECT_EQ(*r.pidsLimit, 10);
  EXPECT_EQ(r.unified.at("memory.high"), "100");
  EXPECT_NE(error_of(R"({"memory": {"limit": "big"}})").find("linux.resources.memory.limit"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"cpu": {"shares": -5}})").find("linux.resources.cpu.shares"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"devices": [{"allow": true, "access": "rwx"}]})").find("access"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"pids": {}})").find("pids.limit"), std::string::npos);
  EXPECT_NE(error_of(R"({"memory": {"limit": 200, "swap": 100}})").find("memory.swap"),
            std::string::npos);
}
