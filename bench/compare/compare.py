#!/usr/bin/env python3
"""Gapura against its peers (Portkey gateway, claude-code-router), one run, one private network namespace.

Started by run.sh, never by hand: run.sh installs the peers and tools, builds Gapura in Release, enters a fresh network
namespace and only then starts this. What it measures and how to read it: bench/README.md, part 6.
Standard library only.
"""

import argparse
import base64
import http.client
import json
import os
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TICKS = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024

MOCK_PORT, GAPURA_PORT, PORTKEY_PORT, CCR_PORT = 18080, 18081, 18082, 18083
VARIANT_PORT = 18090   # the first --variant; the next ones follow
MODEL = "gpt-4o-mini"
MOCK_KEY = "sk-mock-upstream-key"
GAPURA_KEY = "bench-compare-key-0123456789abcdef"

# ---------------------------------------------------------------------------------------------------------------
# The upstream: nginx answering every chat call with the same bytes, from memory.
# ---------------------------------------------------------------------------------------------------------------

ANSWER_PIECES = [
    "A gateway", " stands", " between", " the", " caller", " and", " the", " model", ":", " it", " checks", " the",
    " key", ",", " picks", " a", " route", ",", " counts", " the", " tokens", " and", " relays", " every",
    " event", " as", " it", " comes", ".", " Nothing", " more", ",", " nothing", " less", ".",
]


def sse_answer():
    """An OpenAI chat-completions stream as the API sends it with include_usage: usage null on every chunk, then a
    usage chunk with no choices, then [DONE]."""
    base = {"id": "chatcmpl-bench0000000001", "object": "chat.completion.chunk", "created": 1765000000, "model": MODEL,
            "system_fingerprint": "fp_bench", "service_tier": "default"}

    def chunk(choices, usage=None):
        return "data: " + json.dumps({**base, "choices": choices, "usage": usage}, separators=(",", ":")) + "\n\n"

    def delta(d, finish=None):
        return [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]

    out = [chunk(delta({"role": "assistant", "content": "", "refusal": None}))]
    out += [chunk(delta({"content": piece})) for piece in ANSWER_PIECES]
    out.append(chunk(delta({}, "stop")))
    out.append(chunk([], {"prompt_tokens": 42, "completion_tokens": len(ANSWER_PIECES), "total_tokens": 42 + len(ANSWER_PIECES),
                          "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                          "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}}))
    out.append("data: [DONE]\n\n")
    return "".join(out)


def json_answer():
    return json.dumps({
        "id": "chatcmpl-bench0000000001", "object": "chat.completion", "created": 1765000000, "model": MODEL,
        "system_fingerprint": "fp_bench", "service_tier": "default",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(ANSWER_PIECES), "refusal": None,
                                             "annotations": []}, "logprobs": None, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 42, "completion_tokens": len(ANSWER_PIECES), "total_tokens": 42 + len(ANSWER_PIECES),
                  "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0}},
    }, separators=(",", ":"))


def write_nginx_conf(work, slow_rate):
    """The answers are files (nginx takes no string parameter over 4 KB), served to POST by the usual trick: the static
    module answers a POST with 405, and error_page turns that into an internal GET of the same file, answered 200 (the
    request body is read and dropped first, so the connection stays usable)."""
    sse, body = sse_answer(), json_answer()
    for kind, text in (("sse", sse), ("json", body), ("slow", sse)):
        os.makedirs(os.path.join(work, "www", kind, "v1", "chat"))
        with open(os.path.join(work, "www", kind, "v1", "chat", "completions"), "w") as f:
            f.write(text)
    with open(os.path.join(work, "www", "models.json"), "w") as f:
        json.dump({"object": "list", "data": [{"id": MODEL, "object": "model", "created": 1765000000, "owned_by": "bench"}]}, f)
    # `user root`: without it a root master switches its worker to nobody, which a user namespace (run.sh as non-root)
    # has not mapped; inside the private namespace a root worker reaches nothing else.
    conf = f"""
user root root;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log warn;
daemon off;
events {{ worker_connections 16384; multi_accept on; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    keepalive_requests 10000000;
    keepalive_timeout 300s;
    client_max_body_size 64m;
    client_body_buffer_size 64k;
    sendfile on;
    etag off;
    server {{
        listen 127.0.0.1:{MOCK_PORT} backlog=4096;
        root {work}/www;
        location = /sse/v1/chat/completions {{ types {{ }} default_type text/event-stream; add_header Cache-Control no-cache; error_page 405 =200 $uri; }}
        location = /json/v1/chat/completions {{ types {{ }} default_type application/json; error_page 405 =200 $uri; }}
        # The same stream trickled at {slow_rate} bytes/s: the per-open-stream memory test holds many of these open at once.
        location = /slow/v1/chat/completions {{ types {{ }} default_type text/event-stream; add_header Cache-Control no-cache; limit_rate {slow_rate}; error_page 405 =200 $uri; }}
        location ~ ^/[a-z]+/v1/models$ {{ types {{ }} default_type application/json; try_files /models.json =404; }}
        location = /status {{ stub_status; }}
    }}
}}
"""
    path = os.path.join(work, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    return path, len(sse.encode()), len(body.encode())


# ---------------------------------------------------------------------------------------------------------------
# Processes: CPU and memory from /proc, start and stop by PID.
# ---------------------------------------------------------------------------------------------------------------

def tree(pid):
    """pid and its descendants (inside the private PID namespace /proc holds only this run's processes)."""
    children = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def cpu_seconds(pid):
    """utime + stime of the process and its descendants, in seconds (/proc/<pid>/stat fields 14 and 15)."""
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def rss_mb(pid):
    total = 0
    for p in tree(pid):
        try:
            with open(f"/proc/{p}/statm") as f:
                total += int(f.read().split()[1]) * PAGE_KB
        except OSError:
            continue
    return total / 1024


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class System:
    def __init__(self, name, label, argv, env, cwd, port, log):
        self.name, self.label, self.port, self.log_path = name, label, port, log
        self.log = open(log, "w")
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        self.rss_fresh = self.rss_idle = self.rss_end = None

    @property
    def pid(self):
        return self.proc.pid

    def wait_listening(self, path, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.label} exited with {self.proc.returncode} before listening; its log:\n{tail(self.log_path)}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                c.request("GET", path)
                c.getresponse().read()
                c.close()
                return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.label} did not listen on {self.port} within {timeout} s; its log:\n{tail(self.log_path)}")

    def stop(self):
        # Every process of its tree, by PID: TERM, then KILL what is left after 5 s.
        pids = tree(self.pid) if self.proc.poll() is None else []
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for p in pids:
                try:
                    os.kill(p, sig)
                except OSError:
                    pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                pass
        self.log.close()


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no log)"


# ---------------------------------------------------------------------------------------------------------------
# Cases: one system, one path, one request.
# ---------------------------------------------------------------------------------------------------------------

SYSTEM_MESSAGE = "You are a concise assistant. Answer in one short paragraph."
USER_MESSAGE = "What does an AI gateway do, in two sentences?"


def openai_body(model, stream):
    body = {"model": model, "messages": [{"role": "system", "content": SYSTEM_MESSAGE}, {"role": "user", "content": USER_MESSAGE}],
            "max_tokens": 256, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":"))


def anthropic_body(model, stream):
    return json.dumps({"model": model, "max_tokens": 256, "stream": stream, "system": SYSTEM_MESSAGE,
                       "messages": [{"role": "user", "content": USER_MESSAGE}]}, separators=(",", ":"))


class Case:
    def __init__(self, key, system, path, label, port, url, headers, body, expect, baseline, peer):
        self.key, self.system, self.path, self.label = key, system, path, label
        self.port, self.url, self.headers, self.body, self.expect = port, url, headers, body, expect
        self.baseline, self.peer = baseline, peer   # the direct case and the Portkey case it is compared with
        self.c64, self.c1, self.rate = [], [], {}
        self.cpu, self.mock_cpu, self.requests, self.upstream = 0.0, 0.0, 0, 0
        self.skipped = None
        self.peer_fallback = False


def cases(slow=False, gapuras=(("gapura", "Gapura", GAPURA_PORT),)):
    """Every case; with slow=True the same requests aimed at the trickling upstream (the open-stream memory test).
    `gapuras`: (system, label, port) of every Gapura started, the build measured first and then each --variant."""
    up = "slow" if slow else "sse"
    portkey_headers = lambda kind: {"x-portkey-provider": "openai", "x-portkey-custom-host": f"http://127.0.0.1:{MOCK_PORT}/{kind}/v1",
                                    "Authorization": f"Bearer {MOCK_KEY}"}
    gapura_openai = {"Authorization": f"Bearer {GAPURA_KEY}"}
    gapura_anthropic = {"x-api-key": GAPURA_KEY, "anthropic-version": "2023-06-01"}
    anthropic_version = {"anthropic-version": "2023-06-01"}
    stream_end, message_end, json_end = "[DONE]", "message_stop", "}"
    gapura_cases = lambda path: [case for system, label, port in gapuras for case in (
        [Case(f"{system}-pass", system, "stream", f"{label} passthrough", port, "/v1/chat/completions",
              gapura_openai, openai_body(f"{up}/{MODEL}", True), stream_end, "direct", "portkey-pass"),
         Case(f"{system}-trans", system, "stream", f"{label} Anthropic->OpenAI", port, "/v1/messages",
              gapura_anthropic, anthropic_body(f"{up}/{MODEL}", True), message_end, "direct", "portkey-trans")] if path == "stream" else
        [Case(f"{system}-pass-json", system, "json", f"{label} passthrough", port, "/v1/chat/completions",
              gapura_openai, openai_body(f"json/{MODEL}", False), json_end, "direct-json", "portkey-pass-json"),
         # Gapura's translated path always asks its upstream for a stream and gathers it into one answer, so it reads the
         # mock's stream path (a real OpenAI would stream too, asked so).
         Case(f"{system}-trans-json", system, "json", f"{label} Anthropic->OpenAI", port, "/v1/messages",
              gapura_anthropic, anthropic_body(f"sse/{MODEL}", False), json_end, "direct-json", "portkey-trans-json")])]
    return [
        Case("direct", "direct", "stream", "direct (nginx)", MOCK_PORT, f"/{up}/v1/chat/completions",
             {"Authorization": f"Bearer {MOCK_KEY}"}, openai_body(MODEL, True), stream_end, None, None),
        *gapura_cases("stream"),
        Case("portkey-pass", "portkey", "stream", "Portkey passthrough", PORTKEY_PORT, "/v1/chat/completions",
             portkey_headers(up), openai_body(MODEL, True), stream_end, "direct", "portkey-pass"),
        Case("portkey-trans", "portkey", "stream", "Portkey Anthropic->OpenAI", PORTKEY_PORT, "/v1/messages",
             {**portkey_headers(up), **anthropic_version}, anthropic_body(MODEL, True), message_end, "direct", "portkey-trans"),
        Case("ccr-trans", "ccr", "stream", "CCR Anthropic->OpenAI", CCR_PORT, "/v1/messages",
             {"x-api-key": "unused", **anthropic_version}, anthropic_body(f"{up},{MODEL}", True), message_end, "direct", "portkey-trans"),
        # Non-streaming, one JSON answer.
        Case("direct-json", "direct", "json", "direct (nginx)", MOCK_PORT, "/json/v1/chat/completions",
             {"Authorization": f"Bearer {MOCK_KEY}"}, openai_body(MODEL, False), json_end, None, None),
        *gapura_cases("json"),
        Case("portkey-pass-json", "portkey", "json", "Portkey passthrough", PORTKEY_PORT, "/v1/chat/completions",
             portkey_headers("json"), openai_body(MODEL, False), json_end, "direct-json", "portkey-pass-json"),
        Case("portkey-trans-json", "portkey", "json", "Portkey Anthropic->OpenAI", PORTKEY_PORT, "/v1/messages",
             {**portkey_headers("json"), **anthropic_version}, anthropic_body(MODEL, False), json_end, "direct-json", "portkey-trans-json"),
        Case("ccr-trans-json", "ccr", "json", "CCR Anthropic->OpenAI", CCR_PORT, "/v1/messages",
             {"x-api-key": "unused", **anthropic_version}, anthropic_body(f"json,{MODEL}", False), json_end, "direct-json", "portkey-trans-json"),
    ]


def probe(case):
    """One request; returns None when it is a 200 whose body ends as a whole answer does, else what went wrong."""
    try:
        c = http.client.HTTPConnection("127.0.0.1", case.port, timeout=15)
        c.request("POST", case.url, body=case.body.encode(), headers={"Content-Type": "application/json", **case.headers})
        r = c.getresponse()
        body = r.read().decode(errors="replace")
        c.close()
    except OSError as e:
        return f"{type(e).__name__}: {e}"
    if r.status != 200:
        return f"HTTP {r.status}: {body[:300]}"
    if case.expect not in body[-300:]:
        return f"HTTP 200 but the body does not end with {case.expect!r}: ...{body[-200:]!r}"
    if case.path == "stream" and case.expect == "message_stop" and "content_block_delta" not in body:
        return f"HTTP 200 but no text deltas in the stream: {body[:200]!r}"
    return None


# ---------------------------------------------------------------------------------------------------------------
# Load: wrk (closed, 64 or 1 connections) and OpenLoop (fixed rate).
# ---------------------------------------------------------------------------------------------------------------

WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d duration_us=%d bytes=%d connect=%d read=%d write=%d status=%d timeout=%d p50_us=%d p99_us=%d max_us=%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
"""


def lua_string(s):
    # A quoted Lua string (a long bracket string cannot follow `[` as a table index).
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def write_wrk_script(work, case, suffix=""):
    path = os.path.join(work, f"wrk-{case.key}{suffix}.lua")
    lines = ['wrk.method = "POST"', f"wrk.body = {lua_string(case.body)}", 'wrk.headers["Content-Type"] = "application/json"']
    lines += [f"wrk.headers[{lua_string(k)}] = {lua_string(v)}" for k, v in case.headers.items()]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n" + WRK_DONE)
    body_path = os.path.join(work, f"body-{case.key}{suffix}.json")
    with open(body_path, "w") as f:
        f.write(case.body)
    return path, body_path


def parse_result(text):
    for line in text.splitlines():
        if line.startswith("RESULT "):
            return {k: (float(v) if re.fullmatch(r"-?[0-9.]+|nan", v) else v) for k, v in (p.split("=", 1) for p in line.split()[1:])}
    return None


def run_wrk(case, connections, seconds, timeout_s=10):
    threads = 1 if connections == 1 else 2
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", f"{timeout_s}s",
            "-s", case.wrk_script, f"http://127.0.0.1:{case.port}{case.url}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 20)
    result = parse_result(out.stdout)
    if result is None:
        raise RuntimeError(f"wrk printed no result for {case.key}: {out.stdout[-500:]} {out.stderr[-500:]}")
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result


def run_open_loop(args, case, rate, seconds):
    argv = ["dotnet", args.openloop, "--url", f"http://127.0.0.1:{case.port}{case.url}", "--body-file", case.body_file,
            "--rate", str(rate), "--seconds", str(seconds), "--warm-seconds", "1", "--expect", case.expect, "--warm-connections", "16"]
    for k, v in case.headers.items():
        argv += ["--header", f"{k}: {v}"]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 90)
    result = parse_result(out.stdout)
    if result is None or "error" in result:
        raise RuntimeError(f"the open-loop client failed for {case.key}: {out.stdout[-500:]} {out.stderr[-500:]}")
    return result


def wait_quiet(pids, limit=1.0):
    """Waits (at most `limit` s) until no measured process uses more than 10 % of a core."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = {p: cpu_seconds(p) for p in pids}
        time.sleep(0.2)
        if all(cpu_seconds(p) - before[p] < 0.02 for p in pids):
            return


def nginx_status(port=MOCK_PORT):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/status")
    text = c.getresponse().read().decode()
    c.close()
    return text


def nginx_writing():
    """Connections nginx is answering right now (stub_status "Writing", less this status request): the streams really
    open upstream, not idle keep-alive connections left in the systems' pools."""
    return int(re.search(r"Writing:\s*(\d+)", nginx_status()).group(1)) - 1


def nginx_requests():
    """Requests nginx has served so far, this status request included."""
    return int(re.search(r"\n\s*\d+\s+\d+\s+(\d+)", nginx_status()).group(1))


BURST_BYTES = 32_000_000   # under Gapura's default limit of 32 MiB (Gateway:MaxRequestBodyBytes)


def large_body(case):
    """The case's request with eight screenshots attached, BURST_BYTES in all: how a coding agent's request gets that large
    (a long text would be refused first, as over the model's context window)."""
    body = json.loads(case.body)
    message = body["messages"][-1]
    base = len(json.dumps(body, separators=(",", ":")).encode()) + 400
    data = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom((BURST_BYTES - base) // 8 * 3 // 4 - 8)).decode()
    if case.url == "/v1/messages":
        images = [{"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": data}} for _ in range(8)]
    else:
        images = [{"type": "image_url", "image_url": {"url": "data:image/png;base64," + data}} for _ in range(8)]
    message["content"] = [{"type": "text", "text": message["content"]}] + images
    return json.dumps(body, separators=(",", ":")).encode()


def send_burst(bodies, concurrency):
    """POSTs every (case, body) with `concurrency` at a time; returns the statuses (or exception names) in order."""
    import concurrent.futures

    def one(item):
        case, body = item
        try:
            c = http.client.HTTPConnection("127.0.0.1", case.port, timeout=180)
            c.request("POST", case.url, body=body, headers={"Content-Type": "application/json", **case.headers})
            r = c.getresponse()
            text = r.read()
            c.close()
            return r.status if r.status != 200 or case.expect.encode() in text[-300:] else "incomplete"
        except OSError as e:
            return type(e).__name__

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, bodies))


def parse_variants(specs, default_dll):
    """--variant NAME:ITEM[,ITEM...] -> (name, dll, settings, environment) each."""
    out = []
    for spec in specs:
        name, _, items = spec.partition(":")
        if not re.fullmatch(r"[a-z0-9]+", name):
            raise SystemExit(f"compare.py: --variant {spec!r}: the name must be lower-case letters and digits")
        dll, settings, env = default_dll, [], {}
        for item in filter(None, items.split(",")):
            if item.startswith("dll:"):
                dll = os.path.abspath(item[4:])
            elif item.startswith("env:") and "=" in item:
                k, _, v = item[4:].partition("=")
                env[k] = v
            elif "=" in item:
                settings.append(item)
            else:
                raise SystemExit(f"compare.py: --variant {spec!r}: {item!r} is not Key=Value, env:NAME=VALUE or dll:PATH")
        out.append((name, dll, settings, env))
    return out


# ---------------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------------

def med(values):
    values = [v for v in values if v == v]
    return statistics.median(values) if values else float("nan")


def fmt(v, digits=2, sign=False):
    if v is None or v != v:
        return "—"
    return f"{v:+.{digits}f}" if sign else f"{v:,.{digits}f}"


def table(headers, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(cells, widths))) + " |"
    print(line(headers))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def run_bursts(systems, live, settings):
    """Each system takes `burst_requests` bodies of BURST_BYTES (4 at a time, its streaming cases alternately); a sampler
    reads every system's resident set each second. Returns per system: before, peak, and at +10/+30/+60 s after."""
    import threading
    n = settings["burst_requests"]
    names = [name for name in systems if name not in ("mock",)]
    print(f"burst: {n} requests of {BURST_BYTES / 1e6:.0f} MB per system, 4 at a time, then the resident set for 60 s", flush=True)
    samples, stop = [], threading.Event()

    def sampler():
        while not stop.is_set():
            samples.append((time.monotonic(), {name: rss_mb(systems[name].pid) for name in names}))
            stop.wait(1.0)

    thread = threading.Thread(target=sampler, daemon=True)
    thread.start()
    marks = {}
    try:
        for name in names:
            mine = [c for c in live if c.system == name and c.path == "stream"]
            if not mine:
                continue
            bodies = [(mine[i % len(mine)], large_body(mine[i % len(mine)])) for i in range(n)]
            time.sleep(1.5)
            start = time.monotonic()
            statuses = send_burst(bodies, 4)
            end = time.monotonic()
            marks[name] = (start, end, statuses)
            ok = sum(1 for x in statuses if x == 200)
            print(f"  {systems[name].label}: {ok} of {n} answered whole in {end - start:.1f} s"
                  + ("" if ok == n else f" (the others: {', '.join(str(x) for x in statuses if x != 200)})"), flush=True)
        if marks:
            last = max(end for _, end, _ in marks.values())
            while time.monotonic() < last + 61:
                time.sleep(1)
    finally:
        stop.set()
        thread.join(5)
    out = {}
    for name, (start, end, statuses) in marks.items():
        before = [rss[name] for t, rss in samples if t <= start]
        during = [rss[name] for t, rss in samples if start <= t <= end + 2]
        at = lambda s: next((rss[name] for t, rss in samples if t >= end + s), float("nan"))
        out[name] = dict(before=before[-1] if before else float("nan"), peak=max(during) if during else float("nan"),
                         after10=at(10), after30=at(30), after60=at(60),
                         ok=sum(1 for x in statuses if x == 200), n=len(statuses))
        print(f"  {systems[name].label}: {out[name]['before']:.0f} MB before, {out[name]['peak']:.0f} peak, "
              f"{out[name]['after10']:.0f} / {out[name]['after30']:.0f} / {out[name]['after60']:.0f} MB 10 / 30 / 60 s after", flush=True)
    return out


def bench_line(key, value):
    print(f"BENCH compare_{key}={value}")


# ---------------------------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--work", required=True)
    parser.add_argument("--gapura", required=True, help="gapura.dll of a Release build")
    parser.add_argument("--openloop", required=True, help="OpenLoop.dll")
    parser.add_argument("--node-modules", required=True)
    parser.add_argument("--rate", type=int, default=1000, help="the fixed rate, requests/s (also run at an unsaturated rate when a peer cannot take it)")
    parser.add_argument("--streams", type=int, default=1000, help="concurrent open streams for the memory test")
    parser.add_argument("--gapura-setting", action="append", default=[], help="Key=Value, passed to gapura serve")
    parser.add_argument("--variant", action="append", default=[],
                        help="NAME:ITEM[,ITEM...], another Gapura measured beside the first; ITEM is Key=Value (a setting), "
                             "env:NAME=VALUE (its environment, e.g. env:DOTNET_gcServer=0) or dll:PATH (another build)")
    parser.add_argument("--no-peers", action="store_true", help="Gapura (and its variants) only, without Portkey and claude-code-router")
    parser.add_argument("--probe-only", action="store_true", help="start everything, send one request per case, stop")
    parser.add_argument("--memory-only", action="store_true", help="the probes, the open-stream test and the burst, then stop")
    args = parser.parse_args()
    # Portkey listens on every interface: never start it where there is any but lo (run.sh checks this too, before).
    with open("/proc/self/net/dev") as f:
        interfaces = [line.split(":")[0].strip() for line in f.readlines()[2:]]
    if interfaces != ["lo"]:
        print(f"compare.py: refusing to run outside a fresh network namespace (interfaces: {', '.join(interfaces)}); use run.sh", file=sys.stderr)
        return 3
    quick = args.quick
    settings = dict(
        warm_s=2 if quick else 3, warm_passes=1 if quick else 2,
        c64_rounds=3 if quick else 6, c64_s=2 if quick else 6,
        c1_rounds=2 if quick else 4, c1_s=2 if quick else 4,
        rate_rounds=1 if quick else 3, rate_s=3 if quick else 5,
        # The trickled stream outlasts the longest hold; a peer that does not hang up upstream leaves it running to its end.
        stream_hold_s=10 if quick else 25, slow_rate=768 if quick else 256,
        burst_requests=8 if quick else 16,
    )
    started = time.monotonic()
    work = args.work
    os.chmod(work, 0o755)   # nginx's worker runs as nobody and reads the answers from here
    load_start = loadavg()
    print(f"gapura compare: {'quick' if quick else 'full'} run, {os.cpu_count()} cores, load average at start {load_start}")
    bench_line("loadavg_start", loadavg().split()[0])
    bench_line("cores", os.cpu_count())

    systems = {}
    try:
        # --- the upstream mock
        conf, sse_bytes, json_bytes = write_nginx_conf(work, slow_rate=settings["slow_rate"])
        systems["mock"] = System("mock", "nginx mock", ["nginx", "-p", work, "-c", conf], dict(os.environ), work, MOCK_PORT,
                                 os.path.join(work, "nginx.log"))
        systems["mock"].wait_listening("/status", 10)
        print(f"mock: nginx {subprocess.run(['nginx', '-v'], capture_output=True, text=True).stderr.strip().split('/')[-1]}, "
              f"one worker; the stream is {sse_bytes:,} bytes ({len(ANSWER_PIECES)} text chunks + role, finish, usage, [DONE]), "
              f"the JSON answer {json_bytes:,} bytes")

        # --- Gapura: the Release build, as `gapura serve` runs, one compatible provider per mock path; then each variant
        # (other settings, environment or build) as another process on its own port, measured in the same rounds.
        gapuras = [("gapura", "Gapura", GAPURA_PORT, args.gapura, args.gapura_setting, {})]
        for i, (name, dll, settings_v, env_v) in enumerate(parse_variants(args.variant, args.gapura)):
            gapuras.append((f"gapura_{name}", f"Gapura[{name}]", VARIANT_PORT + i, dll, args.gapura_setting + settings_v, env_v))
        for system, label, port, dll, settings_g, env_g in gapuras:
            gapura_dir = os.path.join(work, system)
            os.makedirs(gapura_dir)
            gapura_argv = ["dotnet", dll, "serve", f"--urls=http://127.0.0.1:{port}",
                           f"--Gateway:ApiKey={GAPURA_KEY}", "--Gateway:AdminEmail=bench-admin@gapura.test",
                           f"--Gateway:AdminPassword=Bench-{secrets.token_hex(16)}",
                           f"--Storage:Path={os.path.join(gapura_dir, 'gapura.db')}"]
            for name in ("sse", "json", "slow"):
                gapura_argv += [f"--Providers:Compatible:{name}:BaseUrl=http://127.0.0.1:{MOCK_PORT}/{name}/v1",
                                f"--Providers:Compatible:{name}:ApiKey={MOCK_KEY}",
                                f"--Providers:Compatible:{name}:Models={MODEL}"]
            gapura_argv += ["--" + s for s in settings_g]
            env = dict(os.environ, DOTNET_CLI_TELEMETRY_OPTOUT="1", DOTNET_NOLOGO="1", **env_g)
            systems[system] = System(system, label, gapura_argv, env, gapura_dir, port, os.path.join(work, f"{system}.log"))
            if system != "gapura":
                print(f"variant {label}: " + " ".join(settings_g[len(args.gapura_setting):] + [f"{k}={v}" for k, v in env_g.items()]
                                                       + ([f"dll={dll}"] if dll != args.gapura else [])))

        nm = args.node_modules
        if not args.no_peers:
            # --- Portkey: its own start script, headless (no log console), production
            portkey_env = dict(os.environ, NODE_ENV="production")
            systems["portkey"] = System("portkey", "Portkey", ["node", os.path.join(nm, "@portkey-ai/gateway/build/start-server.js"),
                                                               f"--port={PORTKEY_PORT}", "--headless"],
                                        portkey_env, work, PORTKEY_PORT, os.path.join(work, "portkey.log"))

            # --- claude-code-router: `ccr start` in the foreground, its home (config, pid file) in the work folder
            ccr_home = os.path.join(work, "ccr-home")
            os.makedirs(os.path.join(ccr_home, ".claude-code-router"))
            with open(os.path.join(ccr_home, ".claude-code-router", "config.json"), "w") as f:
                json.dump({
                    "LOG": False, "HOST": "127.0.0.1", "PORT": CCR_PORT, "API_TIMEOUT_MS": 600000, "NON_INTERACTIVE_MODE": True,
                    "Providers": [{"name": name, "api_base_url": f"http://127.0.0.1:{MOCK_PORT}/{name}/v1/chat/completions",
                                   "api_key": MOCK_KEY, "models": [MODEL]} for name in ("sse", "json", "slow")],
                    "Router": {"default": f"sse,{MODEL}"},
                }, f, indent=2)
            ccr_env = dict(os.environ, HOME=ccr_home)
            systems["ccr"] = System("ccr", "claude-code-router", ["node", os.path.join(nm, "@musistudio/claude-code-router/dist/cli.js"), "start"],
                                    ccr_env, ccr_home, CCR_PORT, os.path.join(work, "ccr.log"))

        for g in gapuras:
            systems[g[0]].wait_listening("/health", 60)
        if not args.no_peers:
            systems["portkey"].wait_listening("/", 60)
            systems["ccr"].wait_listening("/", 60)
        print("versions: " + ", ".join([
            "Gapura " + subprocess.run(["git", "-C", HERE, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() + " (Release)",
            "Portkey gateway " + json.load(open(os.path.join(nm, "@portkey-ai/gateway/package.json")))["version"],
            "@hono/node-server " + json.load(open(os.path.join(nm, "@hono/node-server/package.json")))["version"],
            "claude-code-router " + json.load(open(os.path.join(nm, "@musistudio/claude-code-router/package.json")))["version"],
            "node " + subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip(),
            "dotnet " + subprocess.run(["dotnet", "--version"], capture_output=True, text=True).stdout.strip(),
            subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split("[")[0].strip() or "wrk",
        ]))

        # --- probes: every case answers whole, or is left out (and said so)
        gapura_systems = [(g[0], g[1], g[2]) for g in gapuras]
        all_cases = cases(gapuras=gapura_systems)
        for case in all_cases:
            case.wrk_script, case.body_file = write_wrk_script(work, case)
            problem = "not started (--no-peers)" if case.system not in systems and case.system != "direct" else probe(case)
            if problem:
                case.skipped = problem
                print(f"  left out: {case.label} ({case.path}): {problem}")
        live = [c for c in all_cases if not c.skipped]
        if args.probe_only:
            print(f"probes: {len(live)} of {len(all_cases)} cases answer whole")
            return 0
        by_key = {c.key: c for c in all_cases}
        for c in live:
            # Portkey serves no Anthropic door for an OpenAI upstream: its passthrough of the same answer is then the
            # comparison (marked * in the table).
            if c.peer and by_key[c.peer].skipped and c.peer.endswith("-trans" if c.path == "stream" else "-trans-json"):
                c.peer, c.peer_fallback = c.peer.replace("-trans", "-pass"), True
        measured_pids = [s.pid for s in systems.values()]
        wait_quiet(measured_pids, 3)
        for s in systems.values():
            s.rss_fresh = rss_mb(s.pid)

        # --- memory per open stream: N slow streams held open at once through each system, first, while the processes are
        # fresh (a heap grown by the load phases would absorb the streams and hide their cost)
        n = args.streams
        stream_mem = {}
        print(f"open streams: {n} at once per system, read when all are open upstream (at most {settings['stream_hold_s']} s; upstream trickles at {settings['slow_rate']} bytes/s)", flush=True)
        slow_cases = {c.key: c for c in cases(slow=True, gapuras=gapura_systems)}
        for key in [f"{g[0]}-{kind}" for g in gapuras for kind in ("pass", "trans")] + ["portkey-pass", "portkey-trans", "ccr-trans"]:
            if by_key[key].skipped:
                continue
            case = slow_cases[key]
            case.wrk_script, case.body_file = write_wrk_script(work, case, "-slow")
            system = systems[case.system]
            wait_quiet(measured_pids, 3)
            time.sleep(1)
            before, writing_before = rss_mb(system.pid), nginx_writing()
            wrk = subprocess.Popen(["wrk", "-t", "2", "-c", str(n), "-d", f"{settings['stream_hold_s'] + 30}s", "--timeout", "120s",
                                    "-s", case.wrk_script, f"http://127.0.0.1:{case.port}{case.url}"],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            # Wait until (nearly) every stream is open upstream, at most the hold; then one more second, and read.
            opened = time.monotonic()
            while time.monotonic() - opened < settings["stream_hold_s"] and nginx_writing() - writing_before < 0.98 * n:
                time.sleep(0.5)
            time.sleep(1)
            during, upstream_open = rss_mb(system.pid), nginx_writing() - writing_before
            wrk.send_signal(signal.SIGINT)   # wrk (this run's own child) closes its connections and exits
            out, _ = wrk.communicate(timeout=60)
            time.sleep(3)   # connections closed by the client: what the process gives back, and whether it hangs up upstream
            left_open = nginx_writing() - writing_before
            stream_mem[key] = dict(before=before, during=during, after=rss_mb(system.pid), upstream=upstream_open, left_open=left_open)
            print(f"  {case.label}: {before:.0f} -> {during:.0f} MB with {upstream_open} upstream streams open; 3 s after the "
                  f"clients left {stream_mem[key]['after']:.0f} MB and {left_open} upstream streams still open", flush=True)
            # Streams a system did not cancel run to their end upstream; the next test starts without them.
            deadline = time.monotonic() + 50
            while nginx_writing() > writing_before and time.monotonic() < deadline:
                time.sleep(1)
            wait_quiet(measured_pids, 5)
        if args.memory_only:
            run_bursts(systems, live, settings)
            return 0

        # --- warm-up: every case at 64 connections, twice, the JIT and V8 settle before anything counts
        print(f"warm-up: {settings['warm_passes']} x {settings['warm_s']} s per case at 64 connections", flush=True)
        for _ in range(settings["warm_passes"]):
            for case in live:
                run_wrk(case, 64, settings["warm_s"])
            wait_quiet(measured_pids, 5)
        time.sleep(2)
        for s in systems.values():
            s.rss_idle = rss_mb(s.pid)

        # --- 64 connections, interleaved: forward in even rounds, backward in odd ones
        print(f"64 connections: {settings['c64_rounds']} rounds x {settings['c64_s']} s per case", flush=True)
        for r in range(settings["c64_rounds"]):
            for case in (live if r % 2 == 0 else live[::-1]):
                wait_quiet(measured_pids)
                pid = systems[case.system if case.system != "direct" else "mock"].pid
                upstream_before = nginx_requests()
                mock_before, before = cpu_seconds(systems["mock"].pid), cpu_seconds(pid)
                result = run_wrk(case, 64, settings["c64_s"])
                case.cpu += cpu_seconds(pid) - before
                case.mock_cpu += cpu_seconds(systems["mock"].pid) - mock_before
                # Both status requests count; the direct case's own requests are upstream requests too.
                case.upstream += nginx_requests() - upstream_before - 2
                case.requests += result["requests"]
                case.c64.append(result)
            print(f"  round {r + 1}: " + ", ".join(f"{c.key} {c.c64[-1]['requests'] / c.c64[-1]['duration_us'] * 1e6:,.0f}/s" for c in live), flush=True)

        # --- one connection: the latency a request adds when nothing queues
        print(f"1 connection: {settings['c1_rounds']} rounds x {settings['c1_s']} s per case", flush=True)
        for r in range(settings["c1_rounds"]):
            for case in (live if r % 2 == 0 else live[::-1]):
                wait_quiet(measured_pids)
                case.c1.append(run_wrk(case, 1, settings["c1_s"]))

        # --- a fixed rate (open loop). At --rate, and, when some system cannot take that with room to spare (half of its
        # 64-connection requests/s), also at a rate every system can: a quarter of the slowest one's.
        rps = lambda c: sum(x["requests"] for x in c.c64) / (sum(x["duration_us"] for x in c.c64) / 1e6)
        slowest = min(rps(c) for c in live)
        rates = [args.rate]
        if slowest / 2 < args.rate:
            rates.insert(0, max(50, int(slowest / 4 / 50) * 50))
        print(f"fixed rate (open loop, OpenLoop): {', '.join(map(str, rates))} requests/s, {settings['rate_rounds']} rounds x {settings['rate_s']} s per case", flush=True)
        for rate in rates:
            for case in live:
                case.rate[rate] = [] if (case.system == "direct" or rps(case) / 2 >= rate) else None
            for r in range(settings["rate_rounds"]):
                for case in (live if r % 2 == 0 else live[::-1]):
                    if case.rate[rate] is None:
                        continue
                    wait_quiet(measured_pids)
                    case.rate[rate].append(run_open_loop(args, case, rate, settings["rate_s"]))

        for s in systems.values():
            s.rss_end = rss_mb(s.pid)

        # --- a burst of large bodies through each system in turn, then what each keeps for a minute after its burst
        bursts = run_bursts(systems, live, settings)

        # --- results
        elapsed = time.monotonic() - started
        print()
        print(f"== Results ({'quick' if quick else 'full'} run, {elapsed:.0f} s, load average {loadavg()} at the end) ==")
        print()
        print("Throughput and CPU, 64 connections (wrk, closed loop), medians of the rounds:")
        rows = []
        for c in live:
            base = by_key[c.baseline] if c.baseline else None
            peer = by_key[c.peer] if c.peer else None
            r = rps(c)
            p50 = med([x["p50_us"] for x in c.c64]) / 1000
            p99 = med([x["p99_us"] for x in c.c64]) / 1000
            cpu_ms = c.cpu / c.requests * 1000 if c.requests else float("nan")
            mock_ms = c.mock_cpu / c.requests * 1000 if c.requests else float("nan")
            errors = sum(x["errors"] for x in c.c64)
            vs_direct = r / rps(base) if base and not base.skipped else None
            vs_portkey = r / rps(peer) if peer and not peer.skipped else None
            rows.append([c.label, c.path, fmt(r, 0), fmt(vs_direct, 2) if base else "1.00", (fmt(vs_portkey, 2) + ("*" if c.peer_fallback else "")) if peer else "—",
                         fmt(cpu_ms, 3), fmt(mock_ms, 3), fmt(c.upstream / c.requests, 2), fmt(p50, 2), fmt(p99, 2), fmt(p99 / p50, 1), int(errors)])
            tag = c.key.replace("-", "_")
            bench_line(f"{tag}_rps", round(r))
            bench_line(f"{tag}_cpu_ms_per_req", round(cpu_ms, 4))
            bench_line(f"{tag}_c64_p50_ms", round(p50, 3))
            bench_line(f"{tag}_c64_p99_ms", round(p99, 3))
            if vs_portkey is not None and c.system != "portkey":
                bench_line(f"{tag}_rps_vs_portkey", round(vs_portkey, 2))
        table(["system", "answer", "req/s", "× direct", "× Portkey", "CPU ms/req", "mock CPU ms/req", "upstream calls/req", "p50 ms", "p99 ms", "p99/p50", "errors"], rows)
        if any(c.peer_fallback for c in live):
            print("  * Portkey has no Anthropic door for an OpenAI upstream: compared with its passthrough of the same answer")

        print()
        print("Added latency (system minus direct, same answer kind): one connection (wrk), and a fixed rate (OpenLoop, open loop):")
        headers = ["system", "answer", "1 conn p50 ms", "+p50", "+p99"]
        for rate in rates:
            headers += [f"@{rate}/s +p50", f"+p99"]
        rows = []
        for c in live:
            base = by_key[c.baseline] if c.baseline else c
            p50 = med([x["p50_us"] for x in c.c1]) / 1000
            row = [c.label, c.path, fmt(p50, 3)]
            if c.baseline:
                add50 = p50 - med([x["p50_us"] for x in base.c1]) / 1000
                add99 = med([x["p99_us"] for x in c.c1]) / 1000 - med([x["p99_us"] for x in base.c1]) / 1000
                row += [fmt(add50, 3, True), fmt(add99, 3, True)]
                tag = c.key.replace("-", "_")
                bench_line(f"{tag}_c1_added_p50_ms", round(add50, 3))
                bench_line(f"{tag}_c1_added_p99_ms", round(add99, 3))
            else:
                row += [f"p99 {fmt(med([x['p99_us'] for x in c.c1]) / 1000, 3)}", ""]
            for rate in rates:
                mine, theirs = c.rate.get(rate), base.rate.get(rate)
                if mine is None:
                    row += ["saturated", ""]
                    continue
                failures = sum(x["failures"] for x in mine)
                m50, m99 = med([x["p50_us"] for x in mine]) / 1000, med([x["p99_us"] for x in mine]) / 1000
                if not c.baseline:
                    row += [f"p50 {fmt(m50, 3)}", f"p99 {fmt(m99, 3)}"]
                    continue
                a50 = m50 - med([x["p50_us"] for x in theirs]) / 1000
                a99 = m99 - med([x["p99_us"] for x in theirs]) / 1000
                row += [fmt(a50, 3, True) + (f" ({int(failures)} failed)" if failures else ""), fmt(a99, 3, True)]
                tag = c.key.replace("-", "_")
                bench_line(f"{tag}_rate{rate}_added_p50_ms", round(a50, 3))
                bench_line(f"{tag}_rate{rate}_added_p99_ms", round(a99, 3))
            rows.append(row)
        table(headers, rows)

        print()
        print(f"Memory (resident set of the process tree):")
        rows = []
        for key, label, pass_key, trans_key in [(g[0], g[1], f"{g[0]}-pass", f"{g[0]}-trans") for g in gapuras] + [
                ("portkey", "Portkey", "portkey-pass", "portkey-trans"), ("ccr", "claude-code-router", None, "ccr-trans"), ("mock", "nginx mock", None, None)]:
            if key not in systems:
                continue
            s = systems[key]
            per = []
            for k in (pass_key, trans_key):
                m = stream_mem.get(k) if k else None
                if m is None:
                    per.append("—")
                    continue
                # Every system makes one upstream call per request (the upstream calls/req column), so the streams open
                # upstream are the streams open through it.
                streams = m["upstream"]
                kb = (m["during"] - m["before"]) * 1024 / max(1, streams)
                per.append(f"{kb:,.0f} KB ({streams:,.0f} open, {m['during']:.0f} MB)"
                           + (f", {m['left_open']} left open upstream" if m["left_open"] > 0 else ""))
                bench_line(f"{k.replace('-', '_')}_kb_per_stream", round(kb, 1))
            rows.append([label, fmt(s.rss_fresh, 0), fmt(s.rss_idle, 0), fmt(s.rss_end, 0)] + per)
            bench_line(f"{key}_rss_idle_mb", round(s.rss_idle, 1))
        table(["system", "MB fresh", "MB after warm-up", "MB at the end", "per open stream, passthrough", "per open stream, Anthropic->OpenAI"], rows)

        print()
        print(f"After a burst ({settings['burst_requests']} bodies of {BURST_BYTES / 1e6:.0f} MB, 4 at a time), resident set in MB:")
        rows = []
        for name, b in bursts.items():
            rows.append([systems[name].label, f"{b['ok']} of {b['n']}", fmt(b["before"], 0), fmt(b["peak"], 0), fmt(b["after10"], 0),
                         fmt(b["after30"], 0), fmt(b["after60"], 0)])
            bench_line(f"{name}_burst_peak_mb", round(b["peak"], 1))
            bench_line(f"{name}_burst_after60_mb", round(b["after60"], 1))
        table(["system", "answered whole", "before", "peak", "+10 s", "+30 s", "+60 s"], rows)

        left_out = [c for c in all_cases if c.skipped]
        if left_out:
            print()
            print("Left out (the probe request failed, so the case was not measured):")
            for c in left_out:
                print(f"  {c.label} ({c.path}): {c.skipped}")
        print()
        print(f"load average: start {load_start} -> end {loadavg()}; elapsed {time.monotonic() - started:.0f} s")
        bench_line("loadavg_end", loadavg().split()[0])
        return 0
    finally:
        for s in reversed(list(systems.values())):
            s.stop()


if __name__ == "__main__":
    sys.exit(main())
