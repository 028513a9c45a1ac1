#!/usr/bin/python3
"""The operator dashboard in a real browser (headless Chromium over the DevTools protocol, cdp.py).

Starts dmrswitch-dp (kernel mode, hosted control plane, HBP and [report] http on loopback, an API
token file), logs simulated hotspots in with dmrswitch-sim and checks what an operator sees at
/dashboard/:

  a. the hub answers GET /api/v1/hub (temporary directory, free loopback ports, a 0600 token);
  b. a listener hotspot (TS2=91) and a key holder (KEY=...) log in and stay for the whole test;
  c. the page loads and says it is ready (body[data-ready="1"]) with no console error;
  d. a group call shows up in #live-calls within 1 s of its first frame;
  e. when it has ended it is in #lastheard, with its duration;
  f. the write API: no token / a wrong token -> 401, a hotspot's KEY= used for another hotspot
     -> 403 (and for itself -> 2xx), the operator's token -> 200; a static TG set through it
     routes a call to the client and the clients table shows it;
 f1. single mode: a hotspot with a static TG talks on another TG, and the clients table shows
     the static struck through (switched off) with the time until it is back;
 f2. the same through the page's "Manage a hotspot" panel (a TG added there is heard on the next
     call), and its Drain/Resume buttons, the header's drain state following live;
  g. on a phone (390x844): ready, no error, no horizontal page overflow;
  h. with 10,000 clients logged in: the clients table shows its first page within 2 s and keeps
     a bounded number of rows in the DOM (paged or virtualised);
  i. no console error over the whole session but the 401 the test provokes on purpose.

Screenshots go to --artifacts (dashboard-*.png). Exit status 0 when every check passed; 1 with a
message naming the check that failed (the hub's log and the simulators' output are copied next to
the screenshots then).

  python3 tests/report/dashboard_browser_test.py --build build --artifacts /tmp/dash
"""
import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402

SERVER_ID = 310997
PASSPHRASE = "passw0rd"
LISTENER = 3120001     # TS2=91 by its options; gets TS2=3100 through the API
TALKER = 3120002       # a new dmrswitch-sim per call
KEYHOLDER = 3120003    # options KEY=<HOTSPOT_KEY>: may write its own settings only
SINGLE = 3120004       # TS2=92 by its options; talks on TG 3150, which suspends 92 (single mode)
HOTSPOT_KEY = "k" + secrets.token_hex(6)
SCALE_FIRST = 2100001  # the scale step's clients: below the others, so on the first page by ID
SCALE_CLIENTS = 10000
SCALE_BATCH = 1000
LIVE_BUDGET_S = 1.0
FIRST_PAGE_BUDGET_MS = 2000
MAX_CLIENT_ROWS = 300
PHONE_W, PHONE_H = 390, 844
PHONE_SLACK_PX = 4

T0 = time.monotonic()


class Failure(Exception):
    pass


def step(msg):
    print("[%7.2f s] %s" % (time.monotonic() - T0, msg), flush=True)


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def free_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


# Children die with this process even when it is killed (-9): setpriv's PR_SET_PDEATHSIG.
PDEATH = (["setpriv", "--pdeathsig", "KILL"]
          if subprocess.run(["setpriv", "--pdeathsig", "KILL", "true"],
                            capture_output=True).returncode == 0 else [])


# ------------------------------------------------------------------------------------------------
# The hub and the simulators

class Hub:
    def __init__(self, dp, tmp, http_port, hbp_port, token_file):
        self.tmp = tmp
        self.http_port, self.hbp_port = http_port, hbp_port
        self.config = os.path.join(tmp, "hub.toml")
        self.ctl_socket = os.path.join(tmp, "ctl.sock")
        self.log_path = os.path.join(tmp, "hub.log")
        run_dir = os.path.join(tmp, "run")
        os.makedirs(run_dir, mode=0o755)
        toml = f"""# dashboard_browser_test.py
[hub]
server_id = {SERVER_ID}
mode = "kernel"
shards = 2
control_plane = "hosted"
status_interval_s = 1
run_dir = "{run_dir}"
ctl_socket = "{self.ctl_socket}"

[hbp]
listen = "127.0.0.1:{hbp_port}"
passphrase = "{PASSPHRASE}"
max_clients = {SCALE_CLIENTS + 100}
# The TG 3100 call follows the TG 91 call at once: no slot hold in between.
group_hangtime_s = 0

[report]
http = "127.0.0.1:{http_port}"
api_token_file = "{token_file}"
lastheard_size = 100
"""
        fd = os.open(self.config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(toml)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(PDEATH + [dp, "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=self._log,
                                     stderr=subprocess.STDOUT)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.http_port, path)

    def log_tail(self, n=40):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        return self.proc.returncode


class Sim:
    """One dmrswitch-sim, its output read line by line (line-buffered through stdbuf) and kept
    with the monotonic time each line arrived."""

    RX_LINE = re.compile(r"^t=\s*([\d.]+)s tx\s+(\d+) fps rx\s+(\d+) fps")

    def __init__(self, sim, name, tmp, hbp_port, first_id, clients=1, calls=0, options="",
                 tg=91, superframes=10, duration_s=600.0, login_timeout_s=10.0, quiet=False):
        self.name = name
        self.log_path = os.path.join(tmp, name + ".log")
        args = [sim, "--hub", "127.0.0.1:%d" % hbp_port, "--passphrase", PASSPHRASE,
                "--first-id", str(first_id), "--clients", str(clients), "--calls", str(calls),
                "--tg", str(tg), "--ts", "2", "--superframes", str(superframes),
                "--duration-s", str(duration_s), "--login-timeout-s", str(login_timeout_s),
                "--callsign", "N0DASH"]
        if options:
            args += ["--options", options]
        if quiet:
            args.append("--quiet")
        self.lines = []
        self._cond = threading.Condition()
        self._log = open(self.log_path, "w")
        self.started = time.monotonic()
        self.proc = subprocess.Popen(PDEATH + ["stdbuf", "-oL", "-eL"] + args,
                                     stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self):
        for line in self.proc.stdout:
            now = time.monotonic()
            self._log.write(line)
            self._log.flush()
            with self._cond:
                self.lines.append((now, line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self.lines.append((time.monotonic(), None))  # EOF
            self._cond.notify_all()

    def wait_line(self, pattern, timeout, what):
        """The first line matching `pattern`: (arrival time, match). Fails on timeout or exit."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, line in self.lines:
                    if line is None:
                        raise Failure("%s: dmrswitch-sim (%s) exited before %s:\n%s" % (
                            self.name, self.proc.poll(), what, self.output()))
                    m = rx.search(line)
                    if m:
                        return t, m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise Failure("%s: no %s within %.1f s; its output:\n%s" % (
                        self.name, what, timeout, self.output()))
                self._cond.wait(left)

    def wait_login(self, clients, timeout):
        t, m = self.wait_line(r"^login: (\d+)/(\d+) ok", timeout, "login line")
        check(int(m.group(1)) == clients == int(m.group(2)),
              "%s: only %s of %d clients logged in:\n%s" % (
                  self.name, m.group(1), clients, self.output()))
        return t

    def rx_total(self, before=None):
        """Frames received, summed over the per-second lines (that arrived before `before`)."""
        with self._cond:
            lines = list(self.lines)
        n = 0
        for t, line in lines:
            if line is None or (before is not None and t > before):
                continue
            m = self.RX_LINE.match(line)
            if m:
                n += int(m.group(3))
        return n

    def wait_quiet(self, timeout):
        """Waits for a per-second line, printed from now on, that counts no frame received (the
        second before it was quiet); returns rx_total() then."""
        since = time.monotonic()
        deadline = since + timeout
        with self._cond:
            while True:
                for t, line in self.lines:
                    m = self.RX_LINE.match(line or "")
                    if t > since and m and int(m.group(3)) == 0:
                        break
                else:
                    left = deadline - time.monotonic()
                    check(left > 0, "%s: still receiving frames after %.0f s:\n%s" % (
                        self.name, timeout, self.output()))
                    check(self.lines[-1][1] is not None if self.lines else True,
                          "%s: dmrswitch-sim exited:\n%s" % (self.name, self.output()))
                    self._cond.wait(left)
                    continue
                break
        return self.rx_total()

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Failure("%s: dmrswitch-sim still running after %.0f s" % (self.name, timeout))

    def output(self, n=30):
        with self._cond:
            return "\n".join(l for _, l in self.lines[-n:] if l is not None)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._reader.join(timeout=5)
        self._log.close()


# ------------------------------------------------------------------------------------------------
# The JSON API

def api(hub, method, path, body=None, token=None, timeout=5.0):
    """(status, decoded JSON or None, raw text)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(hub.url(path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token is not None:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    except (urllib.error.URLError, OSError) as e:
        return None, None, str(e)
    text = raw.decode(errors="replace")
    try:
        return status, json.loads(text), text
    except ValueError:
        return status, None, text


def wait_until(fn, timeout, what, interval=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise Failure("timed out after %.1f s waiting for %s" % (timeout, what))
        time.sleep(interval)


# ------------------------------------------------------------------------------------------------
# The page

READY = 'document.body && document.body.dataset.ready === "1"'


def row_js(container, attr, value):
    """The expression for the first element under `container` with attr="value" (or null). An
    element comes back from evaluate() as {}: test it with "!!"."""
    return ("document.querySelector('%s [%s=\"%s\"]')" % (container, attr, value))


def open_dashboard(browser, hub, reload=False):
    if reload:
        browser.reload()
    else:
        browser.navigate(hub.url("/dashboard/"))
    browser.wait_for(READY, timeout=15, what='body[data-ready="1"] (the first load)')


def assert_no_console_errors(browser, allow, when):
    errors = browser.console_errors(allow=allow)
    hint = ""
    if any("favicon.ico" in e for e in errors):
        hint = ("\n(the browser asks for /favicon.ico unless the page names an icon: "
                '<link rel="icon" href="data:,"> in index.html)')
    check(not errors, "console errors %s:\n  %s%s" % (when, "\n  ".join(errors), hint))


def duration_shown(text, seconds):
    """Whether `text` shows a duration close to `seconds`: "4.0 s", "4s", "4 sec", "0:04" (not
    a time "4 s ago")."""
    for m in re.finditer(r"(\d+(?:\.\d+)?)\s*(?:s|sec|secs|seconds)\b(?!\s*ago)", text):
        if abs(float(m.group(1)) - seconds) <= 1.0:
            return True
    for m in re.finditer(r"\b(\d{1,2}):(\d{2})\b", text):
        if abs(int(m.group(1)) * 60 + int(m.group(2)) - seconds) <= 1.0:
            return True
    return False


# ------------------------------------------------------------------------------------------------

def run(args, state):
    build = os.path.abspath(args.build)
    dp = os.path.join(build, "dataplane", "dmrswitch-dp")
    sim = os.path.join(build, "tools", "sim", "dmrswitch-sim")
    ctl = os.path.join(build, "tools", "ctl", "dmrswitch-ctl")
    for p in (dp, sim, ctl):
        check(os.access(p, os.X_OK), "missing binary %s (build first)" % p)
    check(cdp.find_chromium(), "no Chromium (apt-get install chromium, or set CHROMIUM)")
    check(shutil.which("stdbuf"), "stdbuf (coreutils) is missing")
    artifacts = os.path.abspath(args.artifacts)
    os.makedirs(artifacts, exist_ok=True)
    for f in os.listdir(artifacts):  # a previous run's screenshots and logs
        if ((f.startswith("dashboard-") and f.endswith(".png")) or f in ("hub.log", "chromium.log")
                or (f.startswith("sim-") and f.endswith(".log"))):
            os.unlink(os.path.join(artifacts, f))
    state["artifacts"] = artifacts

    def shot(name):
        path = os.path.join(artifacts, name)
        size = browser.screenshot(path)
        step("  screenshot %s (%d bytes)" % (path, size))

    # a. The hub.
    tmp = tempfile.mkdtemp(prefix="dsw-dash-")
    state["tmp"] = tmp
    token = secrets.token_urlsafe(24)
    token_file = os.path.join(tmp, "api.token")
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    http_port, hbp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    step("a. starting dmrswitch-dp: HBP 127.0.0.1:%d, HTTP 127.0.0.1:%d, %s" % (
        hbp_port, http_port, tmp))
    hub = Hub(dp, tmp, http_port, hbp_port, token_file)
    state["hub"] = hub

    def hub_up():
        check(hub.running(), "dmrswitch-dp exited during start-up (%s):\n%s" % (
            hub.proc.returncode, hub.log_tail()))
        status, body, _ = api(hub, "GET", "/api/v1/hub", timeout=1)
        return status == 200 and body
    info = wait_until(hub_up, 30, "GET /api/v1/hub to answer 200", interval=0.1)
    step("  hub up: server_id %s, mode %s" % (info["hub"]["server_id"], info["hub"]["mode"]))

    # b. Hotspots: a listener (TS2=91) and a key holder, both logged in for the whole test.
    step("b. logging in the listener %d (TS2=91) and the key holder %d" % (LISTENER, KEYHOLDER))
    listener = Sim(sim, "sim-listener", tmp, hbp_port, LISTENER, options="TS2=91")
    state["sims"].append(listener)
    keyholder = Sim(sim, "sim-keyholder", tmp, hbp_port, KEYHOLDER,
                    options="KEY=" + HOTSPOT_KEY, quiet=True)
    state["sims"].append(keyholder)
    listener.wait_login(1, 15)
    keyholder.wait_login(1, 15)
    t = time.monotonic()
    wait_until(lambda: (api(hub, "GET", "/api/v1/hub")[1] or {}).get("clients") == 2, 5,
               "GET /api/v1/hub to count 2 clients")
    t_hub = time.monotonic() - t
    wait_until(lambda: {c["id"] for c in (api(hub, "GET", "/api/v1/clients")[1] or {})
                        .get("clients", [])} == {LISTENER, KEYHOLDER}, 5,
               "GET /api/v1/clients to list both")
    step("  /api/v1/hub counts them after %.2f s, /api/v1/clients lists them after %.2f s" % (
        t_hub, time.monotonic() - t))

    # c. The page.
    step("c. opening http://127.0.0.1:%d/dashboard/ in Chromium (1280x900)" % http_port)
    status, _, text = api(hub, "GET", "/dashboard/")
    check(status == 200, "GET /dashboard/ answered %s, not 200: does this build serve the "
          "dashboard (ctrlplane/dashboard)? %s" % (status, text[:200]))
    t = time.monotonic()
    browser = cdp.Browser.launch(log_dir=tmp)
    state["browser"] = browser
    step("  Chromium %s up in %.2f s" % (browser.version, time.monotonic() - t))
    browser.set_viewport(1280, 900, mobile=False)
    t = time.monotonic()
    open_dashboard(browser, hub)
    step("  loaded and ready in %.2f s" % (time.monotonic() - t))
    browser.wait_for("!!" + row_js("#clients", "data-client-id", LISTENER), timeout=5,
                     what="the listener %d in #clients" % LISTENER)
    step("  the listener in #clients after %.2f s" % (time.monotonic() - t))
    assert_no_console_errors(browser, [], "after the first load")
    stream_state = browser.evaluate(
        "(document.querySelector('#stream-state') || {}).textContent || ''")
    step("  ready; #stream-state says %r" % " ".join(stream_state.split()))
    shot("dashboard-desktop.png")

    # d. A live call: in #live-calls within LIVE_BUDGET_S of its first frame. The simulator
    # starts the call as soon as its login completes, right after printing the login line: the
    # time that line arrives stands for the first frame (the latency from the hub's own call
    # start is shown too).
    step("d. group call on TG 91 from %d (about 4 s)" % TALKER)
    talker = Sim(sim, "sim-talker-91", tmp, hbp_port, TALKER, calls=1, tg=91, superframes=11,
                 duration_s=0.2)
    state["sims"].append(talker)
    t_first = talker.wait_login(1, 10)
    live_row = row_js("#live-calls", "data-tg", 91)
    seen = None
    while seen is None:
        if browser.evaluate("!!" + live_row):
            seen = time.monotonic()
            seen_wall = time.time()
            break
        if time.monotonic() - t_first > 5.0:
            calls = api(hub, "GET", "/api/v1/calls")[2]
            raise Failure("no row with data-tg=\"91\" in #live-calls 5 s after the call's first "
                          "frame (the hub's /api/v1/calls: %s)" % calls[:500])
        time.sleep(0.05)
    latency = seen - t_first
    shot("dashboard-live-call.png")
    _, calls, _ = api(hub, "GET", "/api/v1/calls")
    live = [c for c in (calls or {}).get("calls", []) if c["dst"] == 91]
    check(live, "the hub's /api/v1/calls has no TG 91 call while the page shows one")
    hub_latency = seen_wall - live[0]["start"]
    step("  #live-calls row %.0f ms after the first frame (%.0f ms after the hub's call start)" %
         (latency * 1000, hub_latency * 1000))
    check(latency <= LIVE_BUDGET_S,
          "the live call reached #live-calls %.0f ms after its first frame (budget %.0f ms)" %
          (latency * 1000, LIVE_BUDGET_S * 1000))
    stream_attr = browser.evaluate(live_row + ".closest('[data-stream-id]') && " + live_row +
                                   ".closest('[data-stream-id]').dataset.streamId")
    check(stream_attr is not None and str(stream_attr).strip() in (
        str(live[0]["stream_id"]), "%x" % live[0]["stream_id"], "%08x" % live[0]["stream_id"]),
        "the live row's data-stream-id is %r, the hub's stream_id %d" % (
            stream_attr, live[0]["stream_id"]))

    # e. The call ends: it leaves #live-calls and is in #lastheard with its duration.
    step("e. waiting for the call to end")
    check(talker.wait_exit(15) == 0, "the talker failed:\n" + talker.output())
    wait_until(lambda: not [c for c in (api(hub, "GET", "/api/v1/calls")[1] or {}).get("calls", [])
                            if c["dst"] == 91], 5, "the hub to end the TG 91 call")
    _, lh, _ = api(hub, "GET", "/api/v1/lastheard?tg=91&limit=1")
    duration = lh["lastheard"][0]["duration"]
    browser.wait_for("!" + live_row, timeout=3, what="the TG 91 row to leave #live-calls")
    lh_row = row_js("#lastheard", "data-tg", 91)
    browser.wait_for("!!" + lh_row, timeout=3, what='a row with data-tg="91" in #lastheard')
    text = browser.wait_for(
        "(() => { const r = %s; return r && r.innerText; })()" % lh_row, timeout=2,
        what="the #lastheard row's text")
    text = " ".join(text.split())
    step("  #lastheard row: %r (hub: %.2f s)" % (text[:160], duration))
    check(duration_shown(text, duration),
          "the #lastheard row for TG 91 shows no duration near %.1f s: %r" % (duration, text))
    listener.wait_line(r"rx\s+[1-9]", 3, "a line with received frames (the TG 91 call)")
    shot("dashboard-lastheard.png")

    # f. The write API, then a static TG set through it routes a call.
    step("f. write API: 401 / 403 / 200 on PUT /api/v1/clients/%d/options" % LISTENER)
    path = "/api/v1/clients/%d/options" % LISTENER
    body = {"options": "TS2=3100"}
    for who, tok, want in (("no token", None, 401), ("a wrong token", token + "x", 401),
                           ("the key holder's hotspot KEY", HOTSPOT_KEY, 403)):
        status, js, raw = api(hub, "PUT", path, body, token=tok)
        check(status == want, "PUT %s with %s answered %s, want %d: %s" % (
            path, who, status, want, raw[:200]))
        check(isinstance(js, dict) and isinstance(js.get("error"), str),
              "the %d answer is not a JSON {\"error\": ...}: %r" % (want, raw[:200]))
        step("  %s -> %d %s" % (who, status, js["error"]))
    # The same from the page (same origin, no token): the 401 this test allows in the console.
    browser_status = browser.evaluate(
        "fetch(%s, {method: 'PUT', headers: {'Content-Type': 'application/json'}, "
        "body: JSON.stringify(%s)}).then(r => r.status)" % (json.dumps(path), json.dumps(body)))
    check(browser_status == 401, "the page's own fetch without a token got %r, want 401" %
          browser_status)
    state["allow"].append(cdp.AllowedNetworkError(re.escape(path) + "$", 401))
    # A hotspot's key works for itself.
    status, _, raw = api(hub, "POST", "/api/v1/clients/%d/talkgroups" % KEYHOLDER,
                         {"slot": 1, "tg": 3102}, token=HOTSPOT_KEY)
    check(status is not None and 200 <= status < 300,
          "POST /api/v1/clients/%d/talkgroups with its own KEY answered %s, want 2xx: %s" % (
              KEYHOLDER, status, raw[:200]))
    step("  the key holder's KEY on itself -> %d" % status)
    _, cl, _ = api(hub, "GET", "/api/v1/clients/%d" % LISTENER)
    check(not [t for t in cl["client"]["talkgroups"] if t["tg"] == 3100],
          "the refused requests changed the listener's talkgroups: %s" % cl)

    # Before: a call on TG 3100 does not reach the listener.
    before = time.monotonic()
    rx0 = listener.wait_quiet(5)  # the TG 91 call's last frames are counted
    t = Sim(sim, "sim-talker-3100-before", tmp, hbp_port, TALKER, calls=1, tg=3100,
            superframes=2, duration_s=0.2)
    state["sims"].append(t)
    check(t.wait_exit(10) == 0, "the talker failed:\n" + t.output())
    time.sleep(0.3)  # frames in flight
    got = listener.wait_quiet(5) - rx0  # the per-second line that covers the call's end
    check(got == 0, "the listener heard %d frames of TG 3100 before it had TG 3100" % got)
    step("  TG 3100 call before the change: listener heard nothing (%.1f s)" %
         (time.monotonic() - before))

    status, js, raw = api(hub, "PUT", path, body, token=token)
    check(status == 200, "PUT %s with the operator's token answered %s, want 200: %s" % (
        path, status, raw[:200]))
    step("  operator token -> 200 %s" % raw.strip()[:120])
    # A static TG of the listener (once the API lists it) hears the talker's next call whole.
    def heard_whole_call(tg, how):
        wait_until(lambda: [t for t in (api(hub, "GET", "/api/v1/clients/%d" % LISTENER)[1]
                                        or {}).get("client", {}).get("talkgroups", [])
                            if t["tg"] == tg], 3, "the API to list TG %d for the listener" % tg)
        rx0 = listener.wait_quiet(5)
        t = Sim(sim, "sim-talker-%d" % tg, tmp, hbp_port, TALKER, calls=1, tg=tg, superframes=4,
                duration_s=0.2)
        state["sims"].append(t)
        check(t.wait_exit(10) == 0, "the talker failed:\n" + t.output())
        m = re.search(r"tx (\d+) frames", t.output())
        sent = int(m.group(1)) if m else 0
        deadline = time.monotonic() + 4
        while listener.rx_total() - rx0 < sent and time.monotonic() < deadline:
            time.sleep(0.2)
        got = listener.rx_total() - rx0
        check(sent > 0 and got >= sent,
              "the listener heard %d of the %d frames of the TG %d call %s" % (
                  got, sent, tg, how))
        step("  TG %d call %s: listener heard %d/%d frames" % (tg, how, got, sent))

    heard_whole_call(3100, "after the API set it")
    client_row = row_js("#clients", "data-client-id", LISTENER)
    browser.wait_for("(() => { const r = %s; return r && /\\b3100\\b/.test(r.innerText); })()"
                     % client_row, timeout=5,
                     what="the listener's row in #clients to show TG 3100")
    shot("dashboard-static-tg.png")

    # f1. Single mode (the hub's default): a hotspot whose static is TS2=92 keeps talking on TG
    # 3150, a user-activated TG, which switches 92 off for the UA timer. The API says so and the
    # clients table strikes 92 through, with the time until it is back.
    step("f1. single mode: hotspot %d (TS2=92) talks on TG 3150; its static 92 is shown off"
         % SINGLE)
    single = Sim(sim, "sim-single", tmp, hbp_port, SINGLE, calls=1, options="TS2=92", tg=3150,
                 superframes=1, duration_s=20, quiet=True)
    state["sims"].append(single)
    single.wait_login(1, 10)

    def suspended_92():
        client = (api(hub, "GET", "/api/v1/clients/%d" % SINGLE)[1] or {}).get("client", {})
        return [t for t in client.get("talkgroups", [])
                if t["tg"] == 92 and not t["dynamic"] and t.get("suspended")]
    got = wait_until(suspended_92, 5, "the API to list static TG 92 of %d as suspended" % SINGLE)
    check(isinstance(got[0].get("suspended_until"), (int, float)),
          "a suspension in single mode ends with the UA timer: %r" % got[0])
    browser.wait_for("(() => { const r = %s; const s = r && r.querySelector('.suspended'); "
                     "return !!s && s.textContent === '92' && !!s.nextElementSibling && "
                     "s.nextElementSibling.classList.contains('t-left'); })()"
                     % row_js("#clients", "data-client-id", SINGLE), timeout=8,
                     what="the clients table to show %d's static 92 struck through" % SINGLE)
    shot("dashboard-single-mode.png")
    # Its normal exit logs it out (RPTCL), so the scale step's count below stays exact.
    check(single.wait_exit(35) == 0, "the single-mode hotspot failed:\n" + single.output())

    # f2. The same through the dashboard's own "Manage a hotspot" panel, as an operator would:
    # TG 3103 added on TS2 for the listener, heard on the next call; then drain and resume, the
    # header's drain state following live.
    step("f2. the manage panel: add TG 3103 on TS2 for the listener, then drain and resume")
    fill = ("(() => { const set = (id, v) => { const e = document.getElementById(id); e.value = v; "
            "e.dispatchEvent(new Event('input')); e.dispatchEvent(new Event('change')); }; "
            "set('manage-id', %s); set('manage-token', %s); set('manage-slot', '2'); "
            "set('manage-tg', '3103'); document.getElementById('manage-add').click(); "
            "return true; })()" % (json.dumps(str(LISTENER)), json.dumps(token)))
    browser.evaluate(fill)
    result = ("(() => { const r = document.getElementById('manage-result'); "
              "return r.dataset.kind === 'pending' ? null : "
              "{kind: r.dataset.kind, status: r.dataset.status, text: r.textContent}; })()")
    res = browser.wait_for(result, timeout=5, what="the manage panel's answer to Add static")
    check(res["kind"] == "ok" and res["status"] == "200",
          "the manage panel's Add static answered %r" % res)
    step("  Add static -> %s %s" % (res["status"], res["text"]))
    heard_whole_call(3103, "after the panel's change")
    drain = "document.getElementById('drain-state').textContent.trim()"
    for button, want in (("manage-drain", "draining"), ("manage-resume", "serving")):
        browser.evaluate("document.getElementById(%s).click()" % json.dumps(button))
        res = browser.wait_for(result, timeout=5, what="the manage panel's answer to " + button)
        check(res["kind"] == "ok", "%s answered %r" % (button, res))
        shown = browser.wait_for("%s === %s ? %s : null" % (drain, json.dumps(want), drain),
                                 timeout=3, what="the header's drain state to say " + want)
        step("  %s -> %s, header says %s" % (button, res["status"], shown))
        if want == "draining":
            shot("dashboard-draining.png")
    # The event stream may tell the page before the API's view is republished (at most a second
    # after a change, docs/reporting.md).
    wait_until(lambda: api(hub, "GET", "/api/v1/hub")[1]["hub"]["draining"] is False, 2,
               "GET /api/v1/hub to say the hub no longer drains after Resume")

    # g. A phone.
    step("g. phone viewport %dx%d" % (PHONE_W, PHONE_H))
    mark = browser.event_count()
    browser.set_viewport(PHONE_W, PHONE_H, mobile=True)
    open_dashboard(browser, hub, reload=True)
    browser.wait_for("!!" + row_js("#clients", "data-client-id", LISTENER), timeout=5,
                     what="the listener in #clients on the phone")
    errors = browser.console_errors(allow=state["allow"], since=mark)
    check(not errors, "console errors on the phone:\n  " + "\n  ".join(errors))
    widths = browser.evaluate("({inner: window.innerWidth, "
                              "scroll: document.documentElement.scrollWidth, "
                              "body: document.body.scrollWidth})")
    step("  widths %s" % widths)
    shot("dashboard-phone.png")
    check(widths["inner"] == PHONE_W,
          "the layout viewport is %s px wide on a %d px phone: index.html needs "
          '<meta name="viewport" content="width=device-width, initial-scale=1">' % (
              widths["inner"], PHONE_W))
    check(widths["scroll"] <= PHONE_W + PHONE_SLACK_PX,
          "the page overflows the phone horizontally: scrollWidth %s > %d (tables should "
          "scroll inside their cards)" % (widths["scroll"], PHONE_W))
    browser.set_viewport(1280, 900, mobile=False)

    # h. 10,000 clients (the issue: "usable with 10,000 clients").
    # A simulator per 1,000 (a socket per client: it stays within a default descriptor limit).
    step("h. logging in %d clients, %d per dmrswitch-sim" % (SCALE_CLIENTS, SCALE_BATCH))
    for first in range(0, SCALE_CLIENTS, SCALE_BATCH):
        n = min(SCALE_BATCH, SCALE_CLIENTS - first)
        many = Sim(sim, "sim-scale-%d" % (first // SCALE_BATCH), tmp, hbp_port,
                   SCALE_FIRST + first, clients=n, login_timeout_s=30, quiet=True)
        state["sims"].append(many)
        many.wait_login(n, 45)
    total = SCALE_CLIENTS + 2
    wait_until(lambda: (api(hub, "GET", "/api/v1/hub")[1] or {}).get("clients") == total, 10,
               "GET /api/v1/hub to count %d clients" % total, interval=0.2)
    # The clients list is the control plane's view of a second ago (docs/api.yaml).
    wait_until(lambda: (api(hub, "GET", "/api/v1/clients?limit=1")[1] or {}).get("total") == total,
               10, "GET /api/v1/clients to list %d clients" % total, interval=0.2)
    ctl_out = subprocess.run([ctl, "--socket", hub.ctl_socket, "status"], capture_output=True,
                             text=True, timeout=20)
    check(ctl_out.returncode == 0, "dmrswitch-ctl status failed: %s" % ctl_out.stderr)
    step("  hub counts %d clients" % total)
    mark = browser.event_count()
    browser.reload()
    scale_row = ("document.querySelector('#clients [data-client-id=\"%d\"]')" % SCALE_FIRST)
    shown_ms = browser.wait_for(
        "(%s && %s) ? performance.now() : 0" % (READY, scale_row), timeout=15,
        what="the first page of #clients with the 10,000 clients (client %d)" % SCALE_FIRST)
    rows = browser.evaluate("document.querySelectorAll('#clients [data-client-id]').length")
    all_nodes = browser.evaluate("document.getElementsByTagName('*').length")
    step("  first page of #clients %.0f ms after navigation start; %d client rows, %d elements "
         "in the DOM" % (shown_ms, rows, all_nodes))
    shot("dashboard-scale.png")
    check(shown_ms < FIRST_PAGE_BUDGET_MS,
          "the clients table took %.0f ms to show its first page with %d clients (budget %d ms)"
          % (shown_ms, total, FIRST_PAGE_BUDGET_MS))
    check(0 < rows <= MAX_CLIENT_ROWS,
          "#clients holds %d client rows with %d clients logged in: want at most %d (paged or "
          "virtualised)" % (rows, total, MAX_CLIENT_ROWS))
    # The page stays responsive while 10,000 clients' updates come in.
    worst = 0.0
    end = time.monotonic() + 3
    while time.monotonic() < end:
        t = time.monotonic()
        browser.evaluate("1")
        worst = max(worst, time.monotonic() - t)
        time.sleep(0.1)
    step("  slowest page round trip over 3 s: %.0f ms" % (worst * 1000))
    check(worst < 1.0, "the page's main thread was blocked %.0f ms with %d clients" % (
        worst * 1000, total))
    errors = browser.console_errors(allow=state["allow"], since=mark)
    check(not errors, "console errors with %d clients:\n  %s" % (total, "\n  ".join(errors)))

    # i. The whole session.
    step("i. console over the whole session")
    assert_no_console_errors(browser, state["allow"], "over the session")
    check(hub.running(), "dmrswitch-dp died:\n" + hub.log_tail())


def cleanup(state):
    browser = state.get("browser")
    if browser:
        try:
            browser.close()
        except Exception as e:  # noqa: BLE001
            print("closing the browser: %s" % e, file=sys.stderr)
    for s in state["sims"]:
        try:
            s.stop()
        except Exception as e:  # noqa: BLE001
            print("stopping %s: %s" % (s.name, e), file=sys.stderr)
    hub = state.get("hub")
    if hub:
        rc = hub.stop()
        if rc not in (0, None):
            print("dmrswitch-dp exited %s" % rc, file=sys.stderr)
    tmp = state.get("tmp")
    if tmp and state.get("failed") and state.get("artifacts"):
        # What the failure needs: the hub's log, the simulators' output, Chromium's log.
        for f in os.listdir(tmp):
            if f.endswith(".log"):
                shutil.copy(os.path.join(tmp, f), os.path.join(state["artifacts"], f))
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", required=True, help="the meson build root")
    ap.add_argument("--artifacts", required=True, help="directory for the screenshots")
    args = ap.parse_args()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    state = {"sims": [], "allow": []}
    rc = 1
    try:
        run(args, state)
        rc = 0
    except (Failure, cdp.CdpError) as e:
        print("FAIL: %s" % e, flush=True)
        state["failed"] = True
        b = state.get("browser")
        if b and state.get("artifacts"):
            try:
                b.screenshot(os.path.join(state["artifacts"], "dashboard-failure.png"))
            except Exception:  # noqa: BLE001
                pass
        hub = state.get("hub")
        if hub:
            print("--- hub log (last lines) ---\n" + hub.log_tail(), flush=True)
    except KeyboardInterrupt as e:
        print("FAIL: interrupted (%s)" % e, flush=True)
        state["failed"] = True
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        cleanup(state)
    if rc == 0:
        print("PASS (%.1f s)" % (time.monotonic() - T0), flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
