#!/usr/bin/env bats
# berth build: Dockerfiles built into images by the real engine — every instruction, the
# cache (what hits, what misses), COPY/ADD by Docker's rules and against hostile contexts and
# images, multi-stage with skipped stages, failures and Ctrl-C that leave nothing behind.

load helpers
load image_helpers
load engine_helpers

setup() {
  _berth_setup
  import_busybox
  CTX=$TEST_DIR/ctx
  mkdir -p "$CTX"
}

# Nothing of a build may stay: no container, no mount under the test dir, no shim, no
# temporary directory or snapshot of a COPY.
no_build_leftovers() {
  [ -z "$(e ps -aq)" ]
  traces=$(host_traces | tr "\n" " ")
  echo "host traces: $traces"
  [ "$traces" = "0 0 0 " ]
  [ -z "$(ls -A "$BROOT/build" 2>/dev/null)" ]
  [ -z "$(ls "$BROOT/containers")" ]
}

# A line the build's output has, whole (a RUN's output, not the step line that shows it).
printed() { grep -qxF -- "$1" <<<"$output"; }

@test "build: every instruction, Docker's output, the image's config and history" {
  echo hello > "$CTX/hello.txt"
  cat > "$CTX/Dockerfile" <<'EOF'
# a comment
FROM busybox
ARG GREETING=hi
ENV APP=/app \
    MODE="two words"
WORKDIR $APP
COPY hello.txt ./
RUN echo "$GREETING from run, MODE=$MODE, in $(pwd)" && echo built > built.txt
LABEL version=1 who="$GREETING"
EXPOSE 8080 53/udp
VOLUME /data
USER 1000:1000
STOPSIGNAL SIGUSR1
HEALTHCHECK --interval=5s --retries=2 CMD cat /app/built.txt
SHELL ["/bin/sh", "-ec"]
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["cat /app/hello.txt /app/built.txt"]
EOF
  run e build -t app:1 "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "${lines[0]}" == "Step 1/15 : FROM busybox" ]]
  [[ "$output" == *"Step 6/15 : RUN echo"* ]]
  [[ "$output" == *" ---> Running in "* ]]
  [[ "$output" == *"hi from run, MODE=two words, in /app"* ]]
  [[ "$output" == *"Removing intermediate container "* ]]
  [[ "${lines[-2]}" =~ ^"Successfully built "[0-9a-f]{12}$ ]]
  [ "${lines[-1]}" = "Successfully tagged app:1" ]
  run e run --rm app:1
  [ "$status" -eq 0 ]
  [ "$output" = "$(printf 'hello\nbuilt')" ]
  cfg=$(e image inspect app:1 --format '{{json .Config}}')
  # PATH: the builder's default, as Docker's gives an image without one.
  [ "$(jq -c .Env <<<"$cfg")" = '["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin","APP=/app","MODE=two words"]' ]
  [ "$(jq -r .WorkingDir <<<"$cfg")" = /app ]
  [ "$(jq -c .Labels <<<"$cfg")" = '{"version":"1","who":"hi"}' ]
  [ "$(jq -c '.ExposedPorts | keys' <<<"$cfg")" = '["53/udp","8080/tcp"]' ]
  [ "$(jq -c '.Volumes | keys' <<<"$cfg")" = '["/data"]' ]
  [ "$(jq -r .User <<<"$cfg")" = 1000:1000 ]
  [ "$(jq -r .StopSignal <<<"$cfg")" = SIGUSR1 ]
  [ "$(jq -c .Healthcheck <<<"$cfg")" = '{"Interval":5000000000,"Retries":2,"Test":["CMD-SHELL","cat /app/built.txt"]}' ]
  [ "$(jq -c .Shell <<<"$cfg")" = '["/bin/sh","-ec"]' ]
  [ "$(jq -c .Entrypoint <<<"$cfg")" = '["/bin/sh","-c"]' ]
  [ "$(jq -c .Cmd <<<"$cfg")" = '["cat /app/hello.txt /app/built.txt"]' ]
  # History as Docker's classic builder writes it: metadata steps are empty layers, RUN
  # shows the build args it saw.
  run e history --no-trunc --format '{{.CreatedBy}}' app:1
  [ "$status" -eq 0 ]
  [[ "$output" == *'/bin/sh -c #(nop)  ENV APP=/app MODE=two words'* ]]
  [[ "$output" == *'|1 GREETING=hi /bin/sh -c echo "$GREETING from run'* ]]
  [[ "$output" == *'/bin/sh -c #(nop) COPY file:'*' in ./ '* ]]
  [[ "$output" == *'/bin/sh -c #(nop) WORKDIR /app'* ]]
  [[ "$output" == *'/bin/sh -c #(nop)  EXPOSE 53/udp 8080'* ]]
  [[ "$output" == *'/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "cat /app/built.txt"] "5s" "0s" "0s" '"'"'\x02'"'"'}'* ]]
  [[ "$output" == *'/bin/sh -ec #(nop)  SHELL [/bin/sh -ec]'* ]]
  [[ "$output" == *'/bin/sh -ec #(nop)  CMD ["cat /app/hello.txt /app/built.txt"]'* ]]
  # Layers: the base, WORKDIR's directory (the classic builder's), COPY, RUN.
  [ "$(e image inspect app:1 --format '{{len .RootFS.Layers}}')" -eq 4 ]
  # The RUN layer holds what the command wrote, not the runtime's mount points.
  e save app:1 -o "$TEST_DIR/app.tar"
  mkdir "$TEST_DIR/saved" && tar -C "$TEST_DIR/saved" -xf "$TEST_DIR/app.tar"
  [ "$(tar -tf "$TEST_DIR/saved/$(jq -r '.[0].Layers[1]' "$TEST_DIR/saved/manifest.json")")" = "app/" ]
  layer=$(jq -r '.[0].Layers[3]' "$TEST_DIR/saved/manifest.json")
  [ "$(tar -tf "$TEST_DIR/saved/$layer" | sort | tr '\n' ' ')" = "app/ app/built.txt " ]
  # The build cache is not in the image list.
  [ "$(e images --format '{{.Repository}}:{{.Tag}}' | sort | tr '\n' ' ')" = "app:1 busybox:latest " ]
  no_build_leftovers
}

@test "build cache: a rebuild hits every step, a changed file misses from its COPY on, an mtime alone does not" {
  echo one > "$CTX/a.txt"
  echo fixed > "$CTX/b.txt"
  printf 'FROM busybox\nCOPY b.txt /b.txt\nRUN echo step-ran-b\nCOPY a.txt /a.txt\nRUN echo step-ran-a && cat /a.txt\n' > "$CTX/Dockerfile"
  run e build -t c:1 "$CTX"
  [ "$status" -eq 0 ]
  first=$(e image inspect c:1 --format '{{.Id}}')
  run e build -t c:1 "$CTX"
  [ "$status" -eq 0 ]
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 4 ]
  ! printed step-ran-a || false
  ! printed step-ran-b || false
  [ "$(e image inspect c:1 --format '{{.Id}}')" = "$first" ]
  touch -d '2001-01-01' "$CTX/a.txt"
  run e build -t c:1 "$CTX"
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 4 ]
  echo two > "$CTX/a.txt"
  run e build -t c:2 "$CTX"
  [ "$status" -eq 0 ]
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 2 ]
  ! printed step-ran-b || false
  printed step-ran-a
  [ "$(e run --rm c:2 cat /a.txt)" = two ]
  [ "$(e run --rm c:1 cat /a.txt)" = one ]
  # Known hashes are kept by inode and times: new content of the same size with the old
  # mtime put back (ctime still moves) is seen.
  touch -d '2001-01-01' "$CTX/a.txt"
  run e build -t c:2 "$CTX"
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 4 ]
  echo six > "$CTX/a.txt"
  touch -d '2001-01-01' "$CTX/a.txt"
  run e build -t c:2b "$CTX"
  printed step-ran-a
  [ "$(e run --rm c:2b cat /a.txt)" = six ]
  # --no-cache runs everything again.
  run e build --no-cache -t c:3 "$CTX"
  [[ "$output" != *"Using cache"* ]]
  printed step-ran-b
  # A build arg's value is part of the RUN that sees it.
  printf 'FROM busybox\nARG V=1\nRUN echo "v is $V"\n' > "$CTX/Dockerfile"
  run e build -t c:4 "$CTX"
  printed "v is 1"
  run e build -t c:4 "$CTX"
  ! printed "v is 1" || false
  run e build --build-arg V=2 -t c:5 "$CTX"
  printed "v is 2"
  # builder prune drops the cache (the tagged images stay), and the next build runs again.
  run e builder prune -f
  [ "$status" -eq 0 ]
  [ "$(e run --rm c:2 cat /a.txt)" = two ]
  run e build -t c:4 "$CTX"
  printed "v is 1"
  no_build_leftovers
}

@test "COPY and ADD: .dockerignore, wildcards, directories, ownership, --chown/--chmod, tar extraction" {
  mkdir -p "$CTX/src/nested" "$CTX/logs"
  echo main > "$CTX/src/main.c"
  echo inner > "$CTX/src/nested/inner.c"
  echo a > "$CTX/one.md"; echo b > "$CTX/two.md"
  echo log > "$CTX/logs/x.log"; echo keep > "$CTX/logs/keep.log"
  echo secret > "$CTX/secret.key"
  chown 4321:4321 "$CTX/src/main.c"
  chmod 0751 "$CTX/src/main.c"
  printf '# ignore\nsecret.key\nlogs\n!logs/keep.log\n' > "$CTX/.dockerignore"
  mkdir -p "$TEST_DIR/tarsrc/t" && echo in-tar > "$TEST_DIR/tarsrc/t/f.txt"
  tar -C "$TEST_DIR/tarsrc" -czf "$CTX/bundle.tar.gz" t
  tar -C "$TEST_DIR/tarsrc" -cjf "$CTX/bundle.tar.bz2" t
  tar -C "$TEST_DIR/tarsrc" -cJf "$CTX/bundle.tar.xz" t
  echo plain > "$CTX/plain.txt"
  cat > "$CTX/Dockerfile" <<'EOF'
FROM busybox
RUN echo "svc:x:700:701::/home/svc:/bin/sh" >> /etc/passwd && echo "svc:x:701:" >> /etc/group && mkdir /existing
COPY src /code/
COPY *.md /docs/
COPY . /all/
COPY plain.txt /existing
COPY --chown=svc:svc plain.txt /owned.txt
COPY --chown=700 --chmod=600 plain.txt /mode.txt
ADD bundle.tar.gz /unpacked/
ADD plain.txt /added.txt
ADD bundle.tar.bz2 /unpacked-bz/
ADD bundle.tar.xz /unpacked-xz/
EOF
  run e build -t cp:1 "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  run e run --rm cp:1 sh -c '
    cat /code/main.c /code/nested/inner.c; stat -c "%u:%g %a" /code/main.c
    ls /docs | tr "\n" " "; echo
    ls -a /all | tr "\n" " "; echo; ls /all/logs | tr "\n" " "; echo
    cat /existing/plain.txt
    stat -c "%u:%g %a" /owned.txt /mode.txt
    cat /unpacked/t/f.txt /added.txt /unpacked-bz/t/f.txt /unpacked-xz/t/f.txt'
  [ "$status" -eq 0 ]
  [ "${lines[0]}" = main ]
  [ "${lines[1]}" = inner ]
  [ "${lines[2]}" = "0:0 751" ]          # root-owned, the mode kept
  [ "${lines[3]}" = "one.md two.md " ]
  # The ignored key is not there; logs/ only with its re-included file.
  [ "${lines[4]}" = ". .. .dockerignore Dockerfile bundle.tar.bz2 bundle.tar.gz bundle.tar.xz logs one.md plain.txt src two.md " ]
  [ "${lines[5]}" = "keep.log " ]
  [ "${lines[6]}" = plain ]
  [ "${lines[7]}" = "700:701 644" ]
  [ "${lines[8]}" = "700:700 600" ]
  [ "${lines[9]}" = in-tar ]
  [ "${lines[10]}" = plain ]
  [ "${lines[11]}" = in-tar ]            # bzip2 and xz tars are extracted too (Docker's four)
  [ "${lines[12]}" = in-tar ]
  # Errors: one line each, the Dockerfile line, nothing left behind.
  printf 'FROM busybox\nCOPY secret.key /\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == "Dockerfile:2:1: COPY failed: file not found in build context or excluded by .dockerignore: stat secret.key: file does not exist" ]]
  printf 'FROM busybox\nCOPY one.md two.md /nodir\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"the destination must be a directory and end with a /"* ]]
  printf 'FROM busybox\nCOPY *.nothing /x/\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"matches nothing"* ]]
  # A URL nothing answers: one line, the build fails.
  printf 'FROM busybox\nADD http://127.0.0.1:1/x /x\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == "Dockerfile:2:1: "*"127.0.0.1"* ]]
  no_build_leftovers
}

@test "COPY against a hostile context and image: nothing is read or written outside" {
  # The context: symlinks to the host's /etc/shadow, in a directory and as a source itself.
  mkdir "$CTX/d"
  ln -s /etc/shadow "$CTX/d/shadow-link"
  ln -s /etc/shadow "$CTX/shadow-link"
  echo inside > "$CTX/ok.txt"
  # An image whose /escape is a symlink that points out of its root.
  mkdir -p "$TEST_DIR/outside"
  printf 'FROM busybox\nRUN ln -s %s /escape && ln -s ../../../../../../%s /rel\n' "$TEST_DIR/outside" "$TEST_DIR/outside" > "$CTX/Dockerfile"
  run e build -t hostile:base "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  cat > "$CTX/Dockerfile" <<'EOF'
FROM hostile:base
COPY d /d/
COPY ok.txt /escape/
COPY ok.txt /rel/
EOF
  run e build -t hostile:1 "$CTX"
  [ "$status" -eq 0 ]
  # A link in a directory is copied as a link: the host's shadow file is not in the image.
  [ "$(e run --rm hostile:1 readlink /d/shadow-link)" = /etc/shadow ]
  run e run --rm hostile:1 cat /d/shadow-link
  [ "$status" -ne 0 ]
  # The image's symlinks resolve inside its root: the file is in the image, not on the host.
  [ -z "$(ls -A "$TEST_DIR/outside")" ]
  [ "$(e run --rm hostile:1 cat "$TEST_DIR/outside/ok.txt")" = inside ]
  # `..` stops at the context's root: ../../etc/hostname is the context's etc/hostname (not
  # there), never the host's.
  printf 'FROM busybox\nCOPY ../../../../etc/hostname /h\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"file not found in build context"*"etc/hostname"* ]]
  # A source that is a symlink out of the context is resolved inside it (not found here).
  printf 'FROM busybox\nCOPY shadow-link /h\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"file not found in build context"* ]]
  ln -s /etc "$CTX/etc-link"
  printf 'FROM busybox\nCOPY etc-link/hostname /h\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"file not found in build context"* ]]
  no_build_leftovers
}

@test "multi-stage: COPY --from by name and index, FROM a stage, --target, unneeded stages skipped, ARG before FROM" {
  cat > "$CTX/Dockerfile" <<'EOF'
ARG BASE=busybox
ARG UNUSED_META=x
FROM $BASE AS compile
RUN mkdir /out && echo compiled > /out/app && echo stage-compile-ran
FROM scratch AS files
COPY --from=compile /out/app /app
FROM busybox AS never
RUN echo stage-never-ran
FROM ${BASE}
COPY --from=files /app /from-name
COPY --from=0 /out/app /from-index
RUN cat /from-name /from-index
FROM compile AS test
RUN echo stage-test-ran && cat /out/app
EOF
  run e build -t ms:final --target 3 "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"failed to reach build target 3"* ]]
  # The stage with no name is the 4th; --target names one with a name: build the last one
  # without --target.
  run e build -t ms:test "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  printed stage-compile-ran
  printed stage-test-ran
  ! printed stage-never-ran || false
  [[ "$output" == *"Step 1/4 : FROM \$BASE AS compile"* ]]
  run e build -t ms:files --target files "$CTX"
  [ "$status" -eq 0 ]
  [ "$(e image inspect ms:files --format '{{len .RootFS.Layers}}')" -eq 1 ]
  sed -i '/^FROM compile AS test/,$d' "$CTX/Dockerfile"
  run e build -t ms:final --build-arg NOT_DECLARED=1 "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  ! printed stage-never-ran || false
  printed compiled
  [[ "$output" == *"[Warning] One or more build-args [NOT_DECLARED] were not consumed"* ]]
  [ "$(e run --rm ms:final cat /from-name /from-index | tr '\n' ' ')" = "compiled compiled " ]
  # A stage that names itself or a later one is refused.
  printf 'FROM busybox AS a\nCOPY --from=b /x /x\nFROM busybox AS b\nCOPY --from=a /y /y\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"used before it is defined"* ]]
  no_build_leftovers
}

@test "a failing build: Docker's words and exit code, the Dockerfile line, nothing left behind" {
  printf 'FROM busybox\nRUN echo before && exit 7\nRUN echo never\n' > "$CTX/Dockerfile"
  run e build -t bad "$CTX"
  [ "$status" -eq 7 ]   # docker build's exit status: the RUN's
  printed before
  [ "${lines[-1]}" = "The command '/bin/sh -c echo before && exit 7' returned a non-zero code: 7" ]
  run e image inspect bad
  [ "$status" -ne 0 ]
  no_build_leftovers
  # Exec form, a missing command.
  printf 'FROM busybox\nRUN ["/no/such/binary"]\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -ne 0 ]
  [[ "${lines[-1]}" == *"/no/such/binary"* ]]
  no_build_leftovers
  printf 'FROM busybox\nBOGUS thing\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "$output" == *"Dockerfile:2"* ]]
  [ "${#lines[@]}" -eq 1 ]
  printf 'RUN echo no from\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  printf 'FROM scratch\nRUN echo x\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"Dockerfile:2:1: RUN needs a base image"* ]]
  printf 'FROM busybox\nSTOPSIGNAL SIGNOPE\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == "Dockerfile:2:1: "* ]]
  run e build "$TEST_DIR/no-such-dir"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"not found"* ]]
  run e build -t 'Bad:Name:x' "$CTX"
  [ "$status" -ne 0 ]
  no_build_leftovers
}

@test "Ctrl-C during a RUN stops the build at once and leaves nothing" {
  printf 'FROM busybox\nRUN echo started && sleep 60\n' > "$CTX/Dockerfile"
  "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" build -t sleepy "$CTX" > "$TEST_DIR/out" 2>&1 &
  pid=$!
  for i in $(seq 100); do grep -qx started "$TEST_DIR/out" && break; sleep 0.1; done
  grep -qx started "$TEST_DIR/out"
  start=$(date +%s)
  kill -INT $pid
  rc=0
  wait $pid || rc=$?
  [ "$rc" -eq 1 ]
  [ $(( $(date +%s) - start )) -le 5 ]
  grep -q "build cancelled" "$TEST_DIR/out"
  run e image inspect sleepy
  [ "$status" -ne 0 ]
  no_build_leftovers
}

@test "context and Dockerfile from stdin, -f, -q, --iidfile, --label, --network none" {
  echo from-tar > "$CTX/f.txt"
  echo a-file > "$CTX/.wh.f.txt"  # a context is a plain tar: a file, not a whiteout
  printf 'FROM busybox\nCOPY f.txt .wh.f.txt /\nRUN ls /sys/class/net | tr "\\n" " "; echo\n' > "$CTX/Dockerfile"
  # A tar context on stdin (gzip too).
  run sh -c "tar -C '$CTX' -cz . | '$BERTH' --root '$BROOT' --state '$TEST_DIR/run' build -t fromtar --network none -"
  echo "$output"
  [ "$status" -eq 0 ]
  printed "lo "
  [ "$(e run --rm fromtar cat /f.txt /.wh.f.txt)" = "$(printf 'from-tar\na-file')" ]
  [ -z "$(ls -A "$BROOT/build")" ]
  # A Dockerfile alone on stdin (Docker's `build - < Dockerfile`): no context.
  run sh -c "printf 'FROM busybox\nRUN echo no-context > /nc\n' | '$BERTH' --root '$BROOT' --state '$TEST_DIR/run' build -t nocontext --network none -"
  echo "$output"
  [ "$status" -eq 0 ]
  [ "$(e run --rm nocontext cat /nc)" = no-context ]
  [ -z "$(ls -A "$BROOT/build")" ]
  # The Dockerfile on stdin with a directory context, another file with -f.
  run sh -c "printf 'FROM busybox\nCOPY f.txt /g.txt\n' | '$BERTH' --root '$BROOT' --state '$TEST_DIR/run' build -q -t fromstdin -f - '$CTX'"
  [ "$status" -eq 0 ]
  [[ "$output" =~ ^sha256:[0-9a-f]{64}$ ]]
  [ "$(e image inspect fromstdin --format '{{.Id}}')" = "$output" ]
  mkdir "$TEST_DIR/other"
  printf 'FROM busybox\nLABEL from=other\n' > "$TEST_DIR/other/Build.file"
  run e build -f "$TEST_DIR/other/Build.file" --label team=core --label tier=web --iidfile "$TEST_DIR/iid" -t labelled "$CTX"
  [ "$status" -eq 0 ]
  [ "$(cat "$TEST_DIR/iid")" = "$(e image inspect labelled --format '{{.Id}}')" ]
  [ "$(e image inspect labelled --format '{{json .Config.Labels}}')" = '{"from":"other","team":"core","tier":"web"}' ]
  # The default network: RUN has an interface besides lo.
  printf 'FROM busybox\nRUN ls /sys/class/net | wc -l\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 0 ]
  printed 2
  no_build_leftovers
}

@test "ONBUILD triggers, heredocs, ENTRYPOINT clearing an inherited CMD, variables" {
  cat > "$CTX/Dockerfile" <<'EOF'
FROM busybox
CMD ["echo", "base-cmd"]
ONBUILD RUN echo trigger-ran > /trigger.txt
ONBUILD ENV FROM_TRIGGER=yes
EOF
  run e build -t parent "$CTX"
  [ "$status" -eq 0 ]
  [ "$(e image inspect parent --format '{{json .Config.OnBuild}}')" = '["RUN echo trigger-ran \u003e /trigger.txt","ENV FROM_TRIGGER=yes"]' ] ||
    [ "$(e image inspect parent --format '{{json .Config.OnBuild}}' | jq -r '.[1]')" = "ENV FROM_TRIGGER=yes" ]
  cat > "$CTX/Dockerfile" <<'EOF'
FROM parent
ARG NAME
ENV GREETING=${NAME:-nobody} EMPTY=${UNSET:+set} ESC=\$NAME
RUN <<SCRIPT
echo "heredoc as $GREETING" > /heredoc.txt
echo second line >> /heredoc.txt
SCRIPT
COPY <<GREETING <<"RAW" /notes/
hello $NAME ${GREETING_UNSET:-}\$kept
GREETING
raw $NAME
RAW
ENTRYPOINT ["cat"]
EOF
  run e build --build-arg NAME=alice -t child "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  [[ "$output" == *"# Executing 2 build triggers"* ]]
  [ "$(e run --rm --entrypoint cat child /trigger.txt)" = trigger-ran ]
  [ "$(e run --rm child /heredoc.txt | tr '\n' ' ')" = "heredoc as alice second line " ]
  # COPY heredocs: files named after them; a quoted delimiter keeps the text as written.
  [ "$(e run --rm child /notes/GREETING /notes/RAW | tr '\n' ' ')" = 'hello alice $kept raw $NAME ' ]
  env=$(e image inspect child --format '{{json .Config.Env}}')
  [[ "$env" == *'"FROM_TRIGGER=yes"'* ]]
  [[ "$env" == *'"GREETING=alice"'* ]]
  [[ "$env" == *'"EMPTY="'* ]]
  [[ "$env" == *'"ESC=$NAME"'* ]]
  # ENTRYPOINT in the child dropped the CMD it inherited; the triggers do not pass on.
  [ "$(e image inspect child --format '{{json .Config.Cmd}}')" = null ]
  [ "$(e image inspect child --format '{{json .Config.OnBuild}}')" = null ]
  no_build_leftovers
}

@test "built images and the cache: an untagged one is <none>, rmi, run by id, image prune and images -q" {
  printf 'FROM busybox\nRUN echo layer > /l.txt\nCMD ["cat", "/l.txt"]\n' > "$CTX/Dockerfile"
  run e build -q "$CTX"
  [ "$status" -eq 0 ]
  id=$output
  # Untagged: it runs by id, and `images` lists it as <none> (Docker's), not the cache's
  # intermediate entries.
  [ "$(e run --rm "$id")" = layer ]
  [ "$(e images --format '{{.Repository}}:{{.Tag}}' | sort | tr '\n' ' ')" = "<none>:<none> busybox:latest " ]
  [ "$(e images -q --filter dangling=true --no-trunc)" = "$id" ]
  run e build -q -t tagged "$CTX"
  [ "$output" = "$id" ]
  [ "$(e images --format '{{.Repository}}' | sort | tr '\n' ' ')" = "busybox tagged " ]
  run e rmi tagged
  [ "$status" -eq 0 ]
  [[ "$output" == *"Untagged: tagged:latest"* ]]
  run e image inspect "$id"
  [ "$status" -ne 0 ]
  # The parent steps stay cached until image prune (dangling) or builder prune.
  run e build "$CTX"
  [ "$(grep -c 'Using cache' <<<"$output")" -eq 1 ]
  run e image prune -f
  [ "$status" -eq 0 ]
  run e build "$CTX"
  [[ "$output" != *"Using cache"* ]]
  # A named image keeps the steps it was built from through image prune and system prune
  # (Docker's intermediate images are its parents): the next build of it hits.
  run -0 e build -t keep "$CTX"
  # images -a lists the steps as Docker's intermediate images (untagged, not dangling)
  [ "$(e images -a -q | wc -l)" -gt "$(e images -q | wc -l)" ]
  [ -z "$(e images -a -q --filter dangling=true)" ]
  run -0 e image prune -f
  run -0 e system prune -f
  run -0 e build -t keep "$CTX"
  [ "$(grep -c 'Using cache' <<<"$output")" -eq 2 ]
  [[ "$output" != *"Running in"* ]]
  run -0 e rmi keep
  run -0 e image prune -f
  run -0 e build -t keep "$CTX"
  [[ "$output" != *"Using cache"* ]]
  run -0 e rmi keep
  [ "$(e run --rm busybox echo ok)" = ok ]
  no_build_leftovers
}

@test "independent stages build at the same time; a failing one stops the others; the output stays in file order" {
  cat > "$CTX/Dockerfile" <<'EOF'
FROM busybox AS one
RUN echo one-says-hi && cut -d" " -f1 /proc/uptime | tr -d . > /start && sleep 1 && cut -d" " -f1 /proc/uptime | tr -d . > /end
FROM busybox AS two
RUN echo two-says-hi && cut -d" " -f1 /proc/uptime | tr -d . > /start && sleep 1 && cut -d" " -f1 /proc/uptime | tr -d . > /end
FROM busybox
COPY --from=one /start /one-start
COPY --from=one /end /one-end
COPY --from=two /start /two-start
COPY --from=two /end /two-end
RUN [ "$(cat /two-start)" -lt "$(cat /one-end)" ] && [ "$(cat /one-start)" -lt "$(cat /two-end)" ] && echo overlapped
EOF
  run e build --network none -t par "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  printed overlapped
  # Each stage's lines come in one block, in file order: stage two's echo after stage one's.
  one=$(grep -n '^one-says-hi$' <<<"$output" | cut -d: -f1)
  step3=$(grep -n '^Step 3/10 : FROM busybox AS two$' <<<"$output" | cut -d: -f1)
  two=$(grep -n '^two-says-hi$' <<<"$output" | cut -d: -f1)
  [ "$one" -lt "$step3" ]
  [ "$step3" -lt "$two" ]
  # Stage one fails at once: stage two's long RUN is stopped, the build ends with one's error.
  cat > "$CTX/Dockerfile" <<'EOF'
FROM busybox AS one
RUN sleep 0.5 && exit 3
FROM busybox AS two
RUN echo long && sleep 60
FROM busybox
COPY --from=one /etc/passwd /a
COPY --from=two /etc/passwd /b
EOF
  start=$(date +%s)
  run e build --network none "$CTX"
  [ "$status" -eq 3 ]
  [ "${lines[-1]}" = "The command '/bin/sh -c sleep 0.5 && exit 3' returned a non-zero code: 3" ]
  [ $(( $(date +%s) - start )) -le 10 ]
  no_build_leftovers
}

@test "hostile build input: ENV doubling, a 10 MB Dockerfile, a tar bomb context, absolute and parent sources" {
  # ENV A=$A$A forty times would need a terabyte: refused at 1 MiB, with the line.
  {
    echo 'FROM busybox'
    echo 'ENV A=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef'
    for i in $(seq 40); do echo 'ENV A=$A$A'; done
  } > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == "Dockerfile:"*"larger than 1 MiB" ]]
  # 10 MB of comments around two steps: parsed, built.
  {
    echo 'FROM busybox'
    head -c 10000000 /dev/zero | tr '\0' 'x' | fold -w 99 | sed 's/^/# /'; echo
    echo 'LABEL big=dockerfile'
  } > "$CTX/Dockerfile"
  [ "$(stat -c %s "$CTX/Dockerfile")" -gt 10000000 ]
  run e build -q -t bigfile "$CTX"
  [ "$status" -eq 0 ]
  [ "$(e image inspect bigfile --format '{{.Config.Labels.big}}')" = dockerfile ]
  # A LABEL of 5 MB: the image's config would pass the 4 MiB a config may have.
  { echo 'FROM busybox'; printf 'LABEL huge='; head -c 5000000 /dev/zero | tr '\0' 'y'; echo; } > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"larger than"* ]]
  # A context of 64 MiB of zeros in 64 KiB of gzip, into a root on a 16 MiB tmpfs.
  mkdir -p "$TEST_DIR/bomb" "$TEST_DIR/small"
  head -c 64M /dev/zero > "$TEST_DIR/bomb/zeros"
  printf 'FROM busybox\n' > "$TEST_DIR/bomb/Dockerfile"
  tar -C "$TEST_DIR/bomb" -c . | gzip -1 > "$TEST_DIR/bomb.tar.gz"
  mount -t tmpfs -o size=16m tmpfs "$TEST_DIR/small"
  run sh -c "'$BERTH' --root '$TEST_DIR/small/root' --state '$TEST_DIR/run-small' build - < '$TEST_DIR/bomb.tar.gz'"
  left=$(ls -A "$TEST_DIR/small/root/build" 2>/dev/null)
  umount "$TEST_DIR/small"
  [ "$status" -ne 0 ]
  [[ "$output" == *"context on stdin"* ]]
  [ -z "$left" ]
  # Absolute and parent paths name files of the context, never the host's.
  printf 'FROM busybox\nCOPY /etc/passwd /x\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"file not found in build context"* ]]
  mkdir -p "$CTX/etc" && echo context-passwd > "$CTX/etc/passwd"
  printf 'FROM busybox\nCOPY /etc/passwd /x\nCOPY ../../etc/passwd /y\n' > "$CTX/Dockerfile"
  run e build -q -t ctxfiles "$CTX"
  [ "$status" -eq 0 ]
  [ "$(e run --rm ctxfiles cat /x /y | tr '\n' ' ')" = "context-passwd context-passwd " ]
  no_build_leftovers
}

@test "--cache-from: an image's history stands for the steps it ran, in a store that never built them" {
  echo data > "$CTX/f.txt"
  printf 'FROM busybox\nWORKDIR /w\nRUN echo ran-first > /x\nCOPY f.txt ./\nENV A=1\nRUN echo ran-second && cat /x f.txt\nCMD ["cat", "/x"]\n' > "$CTX/Dockerfile"
  run e build -t cachesrc:1 "$CTX"
  [ "$status" -eq 0 ]
  printed ran-first
  e save cachesrc:1 -o "$TEST_DIR/cachesrc.tar"
  # Another store: the same base, the image loaded (as a CI job pulls it), no build cache.
  e2() { "$BERTH" --root "$TEST_DIR/root2" --state "$TEST_DIR/run2" "$@"; }
  tar -C "$BUNDLE/rootfs" -cf "$TEST_DIR/rootfs2.tar" .
  e2 import "$TEST_DIR/rootfs2.tar" busybox:latest >/dev/null
  e2 load -i "$TEST_DIR/cachesrc.tar" >/dev/null
  run e2 build --network none --cache-from cachesrc:1 -t rebuilt "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  ! printed ran-first || false
  ! printed ran-second || false
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 4 ]   # WORKDIR, RUN, COPY, RUN
  [ "$(e2 run --rm --network none rebuilt)" = ran-first ]
  [ "$(e2 image inspect rebuilt --format '{{json .RootFS.Layers}}')" = "$(e image inspect cachesrc:1 --format '{{json .RootFS.Layers}}')" ]
  # A changed file: the cache-from image stands for the steps before it only.
  echo other > "$CTX/f.txt"
  run e2 build --network none --cache-from cachesrc:1 "$CTX"
  [ "$status" -eq 0 ]
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 2 ]
  printed ran-second
  # An image that is not there: a warning, then a normal build.
  run e2 build --network none --cache-from nothere:1 "$CTX"
  [ "$status" -eq 0 ]
  [[ "$output" == *"--cache-from nothere:1: no such image here"* ]]
  for c in $(e2 ps -aq); do e2 rm -f "$c"; done
  [ -z "$(e2 ps -aq)" ]
  # The second store made no network (its builds and run had none): nothing of it on the host.
  [ -z "$(e2 network ls --format '{{.Name}}' | grep -vx -e host -e none)" ]
}

@test "RUN --mount=type=secret: the secret is there for the RUN only — not in the image, its layers or the cache key" {
  echo "top-secret-$$" > "$TEST_DIR/token"
  printf 'FROM busybox\nRUN --mount=type=secret,id=tok wc -c < /run/secrets/tok && cat /run/secrets/tok | cut -c1-3\nRUN --mount=type=secret,id=tok,target=/etc/app.key --network=none ls /sys/class/net && test -s /etc/app.key && echo keyed\nRUN --mount=type=secret,id=optional ls /run/secrets/optional || echo no-optional\n' > "$CTX/Dockerfile"
  run e build --secret id=tok,src="$TEST_DIR/token" -t sec "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  printed top
  printed lo
  printed keyed
  printed no-optional
  # Nothing of it in the image: no file, no mount point, no byte of it in any layer.
  run e run --rm sec sh -c 'ls /run /etc/app.key 2>&1'
  [[ "$output" == *"/run: No such file or directory"* ]]
  [[ "$output" == *"/etc/app.key: No such file or directory"* ]]
  e save sec -o "$TEST_DIR/sec.tar"
  mkdir "$TEST_DIR/sec" && tar -C "$TEST_DIR/sec" -xf "$TEST_DIR/sec.tar"
  ! grep -rq "top-secret-$$" "$TEST_DIR/sec" || false
  for blob in "$TEST_DIR"/sec/blobs/sha256/*; do
    tar -tf "$blob" >/dev/null 2>&1 || continue
    ! tar -tf "$blob" | grep -qE '^(run/|etc/app.key)' || false
  done
  # A new value of the secret does not make the steps run again (BuildKit's rule).
  echo "rotated" > "$TEST_DIR/token"
  run e build --secret id=tok,src="$TEST_DIR/token" "$CTX"
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 3 ]
  # From an environment variable.
  run env TOKEN=from-env "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" build --no-cache --secret id=tok,env=TOKEN "$CTX"
  [ "$status" -eq 0 ]
  printed fro
  # A required secret not given, an unreadable source, an unsupported mount type: one line each.
  printf 'FROM busybox\nRUN --mount=type=secret,id=need,required=true true\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [ "${lines[-1]}" = "Dockerfile:2:1: secret need: not given (--secret id=need,src=FILE)" ]
  run e build --secret id=need,src="$TEST_DIR/nothere" "$CTX"
  [ "$status" -ne 0 ]
  [[ "${lines[-1]}" == *"cannot read $TEST_DIR/nothere"* ]]
  printf 'FROM busybox\nRUN --mount=type=ssh true\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"type=ssh is not supported"* ]]
  no_build_leftovers
}

@test "RUN --mount=type=bind|cache|tmpfs (BuildKit's, as docker init writes them): context and stage sources, a cache across builds, nothing in the layer" {
  mkdir -p "$CTX/src"
  echo "pkg==1" > "$CTX/requirements.txt"
  echo hidden > "$CTX/ignored.txt"
  echo ignored.txt > "$CTX/.dockerignore"
  echo main > "$CTX/src/main.txt"
  ln -s /etc/shadow "$CTX/src/evil"
  cat > "$CTX/Dockerfile" <<'DOCKERFILE'
FROM busybox AS tools
RUN mkdir -p /out && echo built-tool > /out/tool
FROM busybox
WORKDIR /app
RUN --mount=type=bind,source=requirements.txt,target=requirements.txt cp requirements.txt /installed
RUN --mount=type=cache,target=/root/.cache,id=pip,sharing=locked sh -c 'echo run >> /root/.cache/runs; echo "runs: $(wc -l < /root/.cache/runs)"'
RUN --mount=type=bind,target=/ctx sh -c 'echo "ctx: $(ls -A /ctx | tr "\n" " ")"; cat /ctx/src/evil 2>&1 | head -c 13; echo; touch /ctx/x 2>/dev/null || echo read-only'
RUN --mount=type=bind,target=/ctx,rw touch /ctx/src/new
RUN --mount=type=bind,from=tools,source=/out,target=/tools cat /tools/tool
RUN --mount=type=tmpfs,target=/scratch,size=16m sh -c 'cp /bin/busybox /scratch/busybox && /scratch/busybox echo tmpfs-exec'
DOCKERFILE
  run e build -t mounts "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  printed "runs: 1"
  printed "ctx: .dockerignore Dockerfile requirements.txt src "  # .dockerignore holds
  printed "cat: can't op"  # the link resolves in the container, never to the host's file
  printed read-only
  printed built-tool
  printed tmpfs-exec
  # The image has what the commands wrote, nothing of the mounts.
  [ "$(e run --rm mounts cat /installed)" = "pkg==1" ]
  e run --rm mounts sh -c '[ -z "$(ls -A /app)" ] && [ ! -e /root/.cache ] && [ ! -e /ctx ] && [ ! -e /tools ] && [ ! -e /scratch ]'
  [ ! -e "$CTX/x" ]
  [ ! -e "$CTX/src/new" ]
  # Again: every step from the cache. A bind's source changed: its step and the next ones
  # run again, and the cache mount still holds what the first build put there.
  run e build -t mounts "$CTX"
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 8 ]
  echo "pkg==2" > "$CTX/requirements.txt"
  run e build -t mounts "$CTX"
  [ "$status" -eq 0 ]
  printed "runs: 2"
  [ "$(e run --rm mounts cat /installed)" = "pkg==2" ]
  # A file .dockerignore leaves out is no source.
  echo changed > "$CTX/ignored.txt"
  run e build "$CTX"
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 8 ]
  # builder prune empties the cache mounts (and counts them).
  run -0 e builder prune -f
  [[ "$output" == *"Total reclaimed space: "[1-9]* ]]
  [ -z "$(ls "$BROOT"/build-mounts/default/*/ | grep -x data)" ]
  run -0 e build --no-cache "$CTX"
  printed "runs: 1"
  # Refused with one line (the Dockerfile's): no target, an unknown type, a bad sharing or mode,
  # a cache from a stage, a source outside the context or left out by .dockerignore.
  local m
  for m in "type=bind,source=requirements.txt" "type=ssh,target=/s" "type=cache,target=/c,sharing=sometimes" \
           "type=cache,target=/c,mode=999" "type=cache,target=/c,from=tools" "type=bind,source=../../etc,target=/e" \
           "type=bind,source=ignored.txt,target=/i" "type=tmpfs,target=/t,size=-1" "type=bind,target=/a:b"; do
    printf 'FROM busybox\nRUN --mount=%s true\n' "$m" > "$CTX/Dockerfile"
    run e build "$CTX"
    echo "$m: $status $output"
    [ "$status" -eq 1 ]
    [[ "${lines[-1]}" == "Dockerfile:2:1: "* ]]
  done
  no_build_leftovers
}

@test "a RUN that swaps its mount points' parents for symlinks to the host: the stubs' cleanup removes nothing there (BuildKit CVE-2024-23652's class)" {
  local victim=$TEST_DIR/victim
  mkdir -p "$victim/emptydir"
  : > "$victim/emptyfile"
  cat > "$CTX/Dockerfile" <<DOCKERFILE
FROM busybox
RUN --mount=type=tmpfs,target=/x/emptyfile --mount=type=tmpfs,target=/y/emptydir sh -c 'mv /x /x2 && ln -s $victim /x && mv /y /y2 && ln -s $victim /y && ls -ld /x /y'
DOCKERFILE
  run e build -t swapped "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  # The host's empty file and directory are still there…
  [ -f "$victim/emptyfile" ]
  [ -d "$victim/emptydir" ]
  # …and the image has the command's symlinks as it left them.
  [ "$(e run --rm --entrypoint readlink swapped /x)" = "$victim" ]
  e rmi swapped >/dev/null
  no_build_leftovers
}

@test "BuildKit's automatic platform ARGs: FROM --platform=\$BUILDPLATFORM and a stage's bare ARG TARGETARCH are this machine's" {
  local platform
  platform=$(e version --format '{{.Server.Os}}/{{.Server.Arch}}')
  printf '%s\n' 'FROM --platform=$BUILDPLATFORM busybox AS build' 'ARG TARGETOS TARGETARCH TARGETPLATFORM BUILDARCH' \
    'RUN echo "target $TARGETOS/$TARGETARCH $TARGETPLATFORM build $BUILDARCH" | tee /out' \
    'FROM --platform=$TARGETPLATFORM busybox' 'COPY --from=build /out /out' 'RUN echo "unset: [$TARGETARCH]"' > "$CTX/Dockerfile"
  run e build --no-cache "$CTX"
  echo "$output"
  [ "$status" -eq 0 ]
  printed "target $platform $platform build ${platform#*/}"
  printed "unset: []"  # not declared in that stage: not there (BuildKit's scope rule)
  # Another platform is still refused with one line.
  printf 'FROM --platform=linux/s390x busybox\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"only this machine's platform"* ]]
  no_build_leftovers
}

@test "ADD of a URL: downloaded at every build, named by the URL, 0600, its Last-Modified as mtime, never extracted" {
  mkdir -p "$TEST_DIR/www/sub"
  echo "remote content" > "$TEST_DIR/www/sub/file.txt"
  touch -d '2020-02-02 02:02:02 UTC' "$TEST_DIR/www/sub/file.txt"
  tar -C "$TEST_DIR/www" -czf "$TEST_DIR/www/arch.tar.gz" sub
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd "$TEST_DIR/www" && exec /usr/bin/python3 -m http.server "$port" --bind 127.0.0.1) > /dev/null 2>&1 &
  server=$!
  for i in $(seq 50); do curl -sf "http://127.0.0.1:$port/sub/file.txt" >/dev/null && break; sleep 0.1; done
  u=http://127.0.0.1:$port
  printf 'FROM busybox\nADD %s/sub/file.txt /dl/\nADD %s/arch.tar.gz /dl/\nADD %s/sub/file.txt?x=1 /named.txt\n' "$u" "$u" "$u" > "$CTX/Dockerfile"
  run e build -t fromurl "$CTX"
  [ "$status" -eq 0 ]
  run e run --rm fromurl sh -c 'stat -c "%n %a %u:%g %Y" /dl/file.txt /named.txt /dl/arch.tar.gz; cat /named.txt'
  [ "${lines[0]}" = "/dl/file.txt 600 0:0 1580608922" ]
  [ "${lines[1]}" = "/named.txt 600 0:0 1580608922" ]
  [[ "${lines[2]}" == "/dl/arch.tar.gz 600 0:0 "* ]]   # an archive from a URL stays an archive
  [ "${lines[3]}" = "remote content" ]
  # Downloaded again, the same content: cached; new content: the step runs again.
  run e build "$CTX"
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 3 ]
  echo "changed" > "$TEST_DIR/www/sub/file.txt"
  run e build "$CTX"
  [ "$(grep -c -- ' ---> Using cache' <<<"$output")" -eq 0 ]
  # --checksum: the download must match.
  sum=$(sha256sum "$TEST_DIR/www/sub/file.txt" | cut -d' ' -f1)
  printf 'FROM busybox\nADD --checksum=sha256:%s %s/sub/file.txt /ok.txt\n' "$sum" "$u" > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 0 ]
  printf 'FROM busybox\nADD --checksum=sha256:%s %s/sub/file.txt /ok.txt\n' "$(printf '0%.0s' $(seq 64))" "$u" > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"checksum mismatch"* ]]
  # Not there: one line with the status, nothing left.
  printf 'FROM busybox\nADD %s/nothere /x\n' "$u" > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == "Dockerfile:2:1: GET $u/nothere: 404"* ]]
  printf 'FROM busybox\nCOPY %s/sub/file.txt /x\n' "$u" > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "${lines[-1]}" == *"COPY cannot copy from a URL: use ADD"* ]]
  kill $server
  no_build_leftovers
}

@test "remote contexts (Docker's): a git repository over HTTP with #REF:SUBDIR, a tar URL, a Dockerfile URL; hostile fragments and failures in one line, nothing left" {
  # A repository on a plain web server (git's dumb HTTP: no shallow fetch there), two branches.
  local repo=$TEST_DIR/src
  mkdir -p "$repo/app" "$TEST_DIR/www"
  git init -q -b main "$repo"
  printf 'FROM busybox\nCOPY . /ctx/\nRUN cat /ctx/version\n' > "$repo/Dockerfile"
  echo main-1 > "$repo/version"
  printf 'FROM busybox\nCOPY hello.txt /hello.txt\n' > "$repo/app/Dockerfile"
  echo "hello from app" > "$repo/app/hello.txt"
  printf 'FROM busybox\nCOPY app/hello.txt /h\n' > "$repo/other.Dockerfile"
  ln -s /etc "$repo/out"
  git -C "$repo" add -A
  git -C "$repo" -c user.name=t -c user.email=t@t commit -qm one
  git -C "$repo" checkout -qb feature
  echo feature-1 > "$repo/version"
  git -C "$repo" -c user.name=t -c user.email=t@t commit -qam two
  git -C "$repo" checkout -q main
  git clone -q --bare "$repo" "$TEST_DIR/www/repo.git"
  git -C "$TEST_DIR/www/repo.git" update-server-info
  mkdir -p "$TEST_DIR/tarsrc"
  printf 'FROM busybox\nCOPY from-tar.txt /\n' > "$TEST_DIR/tarsrc/Dockerfile"
  echo "from the tar" > "$TEST_DIR/tarsrc/from-tar.txt"
  tar -C "$TEST_DIR/tarsrc" -czf "$TEST_DIR/www/ctx.tar.gz" .
  printf 'FROM busybox\nRUN echo only-a-dockerfile > /only\n' > "$TEST_DIR/www/Dockerfile.txt"
  port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  (cd "$TEST_DIR/www" && exec /usr/bin/python3 -m http.server "$port" --bind 127.0.0.1) > /dev/null 2>&1 &
  server=$!
  u=http://127.0.0.1:$port
  for i in $(seq 50); do curl -sf "$u/repo.git/HEAD" >/dev/null && break; sleep 0.1; done
  # The remote's HEAD (main), with .git in the context as Docker's has it.
  run e build -t fromgit "$u/repo.git"
  echo "$output"
  [ "$status" -eq 0 ]
  printed main-1
  e run --rm fromgit sh -c 'test -d /ctx/.git && test -f /ctx/app/hello.txt'
  # A branch; a branch and a subdirectory; -f inside the context.
  run -0 e build "$u/repo.git#feature"
  printed feature-1
  run -0 e build -t fromsub "$u/repo.git#main:app"
  [ "$(e run --rm fromsub cat /hello.txt)" = "hello from app" ]
  run -0 e build -f other.Dockerfile -t fromf "$u/repo.git"
  [ "$(e run --rm fromf cat /h)" = "hello from app" ]
  # A tar at a URL is the context; any other file is the Dockerfile alone.
  run -0 e build -t fromtar "$u/ctx.tar.gz"
  [ "$(e run --rm fromtar cat /from-tar.txt)" = "from the tar" ]
  run -0 e build -t fromtext "$u/Dockerfile.txt"
  [ "$(e run --rm fromtext cat /only)" = only-a-dockerfile ]
  # Refused with one line each: a missing ref, a subdirectory that leads out (a symlink to /etc
  # resolves inside the repository, where there is none; `..`), an option for a ref, a missing
  # file, a Dockerfile that is not there.
  for ctx in "$u/repo.git#nosuchbranch" "$u/repo.git#main:out" "$u/repo.git#main:../.." "$u/repo.git#--upload-pack=touch${TEST_DIR}/pwned" \
             "$u/nothere.tar" "$u/repo.git#main:app/nothere"; do
    run e build "$ctx"
    echo "$ctx: $status $output"
    [ "$status" -ne 0 ]
    [ "${#lines[@]}" -eq 1 ]
    [[ "$output" == "berth: build: "* ]]
  done
  [ ! -e "$TEST_DIR/pwned" ]
  run e build -f nothere "$u/repo.git"
  [ "$status" -ne 0 ]
  [[ "$output" == *"has no nothere"* ]]
  kill $server
  e rmi fromgit fromsub fromf fromtar fromtext >/dev/null
  no_build_leftovers
}

@test ".dockerignore is read as the Dockerfile is: inside the context, a regular file, bounded (a link out, /dev/zero, a FIFO)" {
  printf 'FROM busybox\nCOPY . /c/\n' > "$CTX/Dockerfile"
  touch "$CTX/a" "$CTX/b"
  mkdir -p "$TEST_DIR/outside"
  echo a > "$TEST_DIR/outside/ign"
  # A link inside the context is followed; one that leads out (absolute or by ..) names nothing.
  echo b > "$CTX/ignore-rules"
  ln -s ignore-rules "$CTX/.dockerignore"
  e build -q --no-cache -t ig "$CTX" >/dev/null
  [ "$(e run --rm ig ls /c | tr '\n' ' ')" = "Dockerfile a ignore-rules " ]
  for target in "$TEST_DIR/outside/ign" "../../../../../../../..$TEST_DIR/outside/ign"; do
    ln -sfn "$target" "$CTX/.dockerignore"
    e build -q --no-cache -t ig "$CTX" >/dev/null
    [ "$(e run --rm ig ls /c | tr '\n' ' ')" = "Dockerfile a b ignore-rules " ]
  done
  # /dev/zero through a link resolves inside the context (none there); a FIFO is refused at
  # once, not waited on; neither is read without end.
  ln -sfn /dev/zero "$CTX/.dockerignore"
  run -0 timeout 60 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" build -q --no-cache "$CTX"
  rm "$CTX/.dockerignore"
  mkfifo "$CTX/.dockerignore"
  run timeout 60 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" build -q --no-cache "$CTX"
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ]
  [ "${#lines[@]}" -eq 1 ] && [[ "$output" == *"build: .dockerignore is not a regular file" ]]
  rm "$CTX/.dockerignore"
  # The Dockerfile of a context sent as a tar (stdin; the API's too) is read the same way: a
  # FIFO or a device there is no Dockerfile (it held the build, and berthd's thread, for good).
  mkdir -p "$TEST_DIR/fifo-ctx"
  mkfifo "$TEST_DIR/fifo-ctx/Dockerfile"
  tar -C "$TEST_DIR/fifo-ctx" -cf "$TEST_DIR/fifo-ctx.tar" .
  run timeout 60 "$BERTH" --root "$BROOT" --state "$TEST_DIR/run" build -q - < "$TEST_DIR/fifo-ctx.tar"
  [ "$status" -ne 0 ] && [ "$status" -ne 124 ]
  [ "${#lines[@]}" -eq 1 ] && [[ "$output" == *"build: the context has no Dockerfile" ]]
  e rmi ig >/dev/null
  no_build_leftovers
}

@test "RUN --network=host needs the user's --allow network.host (BuildKit's entitlement); build --network none is never overridden by the Dockerfile" {
  # A service on the host's loopback that only the host's network reaches.
  python3 -c 'import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
while True:
    c,_=s.accept(); c.sendall(b"HOST-ONLY-SECRET\n"); c.close()' > "$TEST_DIR/port" &
  local srv=$!
  for i in $(seq 50); do [ -s "$TEST_DIR/port" ] && break; sleep 0.1; done
  port=$(cat "$TEST_DIR/port")
  printf 'FROM busybox\nRUN --network=host nc 127.0.0.1 %s </dev/null; ls /sys/class/net\n' "$port" > "$CTX/Dockerfile"
  for net in "" "--network none"; do
    # shellcheck disable=SC2086
    run e build --no-cache $net -t hostnet "$CTX"
    [ "$status" -ne 0 ]
    [[ "$output" == *"network.host is not allowed"* ]]
    [[ "$output" != *HOST-ONLY-SECRET* ]]
  done
  # Granted by the user: the step has the host's network.
  run e build --no-cache --allow network.host -t hostnet "$CTX"
  kill "$srv"
  [ "$status" -eq 0 ]
  [[ "$output" == *HOST-ONLY-SECRET* ]]
  run e build --allow security.insecure "$CTX"
  [ "$status" -ne 0 ]
  [[ "${lines[-1]}" == *"network.host only"* ]]
}

@test "what Docker's classic builder does that berth did not: COPY --from owners and hard links in the cache key, a file onto a symlink, a tar's root entry, empty steps, patterns that match nothing, !exceptions under a named directory, non-tar archives, EXPOSE \$PORTS, a bare ENTRYPOINT, a directory onto a file" {
  # The cache: a stage whose chown changed makes COPY --from miss (it hit, keeping the old owner).
  printf 'FROM busybox AS st\nARG O=1\nRUN mkdir -p /d && echo same > /d/f && chown -R $O:$O /d/f\nFROM busybox\nCOPY --from=st /d /d\n' > "$CTX/Dockerfile"
  e build -q -t own:1 --build-arg O=1 "$CTX" >/dev/null
  e build -q -t own:2 --build-arg O=2 "$CTX" >/dev/null
  [ "$(e run --rm own:2 stat -c %u:%g /d/f)" = 2:2 ]
  [ "$(e run --rm own:1 stat -c %u:%g /d/f)" = 1:1 ]
  # Two files that become hard links of each other (same bytes): a miss, the image linked.
  mkdir -p "$CTX/hl"
  echo same > "$CTX/hl/a"; echo same > "$CTX/hl/b"
  printf 'FROM busybox\nCOPY hl /hl\n' > "$CTX/Dockerfile"
  e build -q -t hl:1 "$CTX" >/dev/null
  rm "$CTX/hl/b"; ln "$CTX/hl/a" "$CTX/hl/b"
  run -0 e build -t hl:2 "$CTX"
  [[ "$output" != *"Using cache"* ]]
  [ "$(e run --rm hl:2 stat -c %h /hl/a)" = 2 ]
  # A file onto a symlink goes where it leads (a dangling one too); a tar's "./" leaves the
  # existing directory's mode and owner; absolute names land under DEST.
  echo new > "$CTX/a.txt"
  mkdir -p "$CTX/r/sub"; echo r > "$CTX/r/sub/f"; chmod 700 "$CTX/r"; chown 7:7 "$CTX/r"
  tar -C "$CTX/r" -cf "$CTX/root0700.tar" .
  mkdir -p "$CTX/abs/etc" && echo abs > "$CTX/abs/etc/absfile"
  tar -C "$CTX/abs" --transform 's,^,/,' -cPf "$CTX/abs.tar" etc/absfile
  echo plain > "$CTX/p" && gzip -f "$CTX/p"
  cat > "$CTX/Dockerfile" <<'DF'
FROM busybox
RUN mkdir -p /real /t1 && chmod 755 /t1 && echo old > /real/file && ln -s /real/file /lnk && ln -s /real/nothere /dangl
COPY a.txt /lnk
COPY a.txt /dangl
ADD root0700.tar /t1/
ADD abs.tar /abs/
ADD p.gz /gz/
RUN true
WORKDIR /tmp
ENV PORTS="80 443"
EXPOSE $PORTS
COPY a.txt no-such-*.txt /multi/
ENTRYPOINT
DF
  run -0 e build -t sym:1 "$CTX"
  run -0 e run --rm --entrypoint sh sym:1 -c 'readlink /lnk; readlink /dangl; cat /real/file /real/nothere; stat -c "%a %u:%g" /t1; cat /t1/sub/f /abs/etc/absfile; ls /gz; cat /multi/a.txt'
  [ "$output" = "$(printf '/real/file\n/real/nothere\nnew\nnew\n755 0:0\nr\nabs\np.gz\nnew')" ]
  [ "$(e image inspect sym:1 -f '{{json .Config.ExposedPorts}}')" = '{"443/tcp":{},"80/tcp":{}}' ]
  [ "$(e image inspect sym:1 -f '{{json .Config.Entrypoint}}')" = null ]
  # RUN true and WORKDIR of an existing directory add no layer (history: empty_layer).
  base=$(e image inspect busybox -f '{{len .RootFS.Layers}}')
  [ "$(e image inspect sym:1 -f "{{len .RootFS.Layers}}")" -eq $((base + 7)) ]
  [ "$(e history --no-trunc --format '{{.CreatedBy}} {{.Size}}' sym:1 | grep -c 'true 0B')" -eq 1 ]
  # ...nor a blob or a snapshot that nothing references.
  run -0 e system check
  [ "$output" = "the store is consistent" ]
  # .dockerignore: an excluded directory named as the source still gives its exceptions.
  mkdir -p "$CTX/dir/sub" "$CTX/dir/other"
  echo keep > "$CTX/dir/sub/keep.txt"; echo drop > "$CTX/dir/sub/drop.txt"; echo o > "$CTX/dir/other/o.txt"
  printf 'dir\n!dir/sub/keep.txt\n' > "$CTX/.dockerignore"
  printf 'FROM busybox\nCOPY dir /dir2/\n' > "$CTX/Dockerfile"
  run -0 e build -t ign:1 "$CTX"
  [ "$(e run --rm ign:1 find /dir2 -type f)" = /dir2/sub/keep.txt ]
  rm "$CTX/.dockerignore"
  # Nothing at all matched: still an error; a directory onto a file: Docker's "not a directory".
  printf 'FROM busybox\nCOPY no-such-*.txt /x/\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "$output" == *"no source files were specified"* ]]
  printf 'FROM busybox\nRUN touch /afile\nCOPY dir /afile\n' > "$CTX/Dockerfile"
  run e build "$CTX"
  [ "$status" -eq 1 ]
  [[ "$output" == *"not a directory"* ]]
  no_build_leftovers
}
