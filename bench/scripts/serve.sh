# Sourced by the measuring scripts: starts `cairn serve` (CAIRN_BIN, else the release build) on a
# fresh store in a temporary directory and a random port below `$1`+1000, stops it and removes the
# store on exit, and defines `bench` (a `cairn-bench run` against it; $workload, $size and
# $concurrency from the caller, extra arguments appended; $keys if set, else 1000). Sets $data,
# $port and $server. A caller may set the array `wrap` to a command that runs the server (such as
# valgrind), which then starts slower: the wait for it is 60 s.
data=$(mktemp -d)
port=$(($1 + RANDOM % 1000))
CAIRN_LOG=warn ${wrap[@]+"${wrap[@]}"} "${CAIRN_BIN:-target/release/cairn}" serve --data-dir "$data" --address "127.0.0.1:$port" > "$data/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 600); do
    [ -f "$data/credentials" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
done
bench() {
    target/release/cairn-bench run --endpoint "http://127.0.0.1:$port" --credentials "$data/credentials" \
        --workload "$workload" --size "$size" --keys "${keys:-1000}" --concurrency "$concurrency" --quiet --out "$data/out" "$@"
}
