"""A small Chrome DevTools Protocol client over --remote-debugging-pipe (stdlib only).

Chromium started with --remote-debugging-pipe reads protocol commands from its fd 3 and writes
responses and events to its fd 4; each message is one JSON object followed by a NUL byte. This
module starts a headless Chromium that way, opens one page target (Target.createTarget, then
Target.attachToTarget with flatten: true, so that page commands carry its sessionId), and offers
what the dashboard's browser test needs:

    with Browser.launch() as b:
        b.navigate("http://127.0.0.1:8080/dashboard/")
        b.wait_for('document.body.dataset.ready === "1"', timeout=10)
        print(b.evaluate("document.title"))
        b.screenshot("/tmp/shot.png")
        errors = b.console_errors(allow=[AllowedNetworkError(r"/api/v1/clients/", 401)])

A background thread reads the pipe: it completes waiting commands and collects the page's
console calls (Runtime.consoleAPICalled), uncaught exceptions (Runtime.exceptionThrown) and log
entries (Log.entryAdded). Chromium logs one network entry of level "error" for every fetch or
XHR answered with a non-2xx status ("Failed to load resource: the server responded with a status
of 401 ..."); console_errors() takes a list of AllowedNetworkError (URL pattern and status) for
the ones a test provokes on purpose.
"""
import base64
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time


class CdpError(Exception):
    """A protocol error answer, a timeout, or a browser that went away."""


class AllowedNetworkError:
    """A Log.entryAdded network error that is expected: its URL matches url_pattern (a regular
    expression, searched) and its text names the HTTP status (None: any status)."""

    def __init__(self, url_pattern, status=None):
        self.url_pattern = re.compile(url_pattern)
        self.status = status

    def matches(self, entry):
        if entry.get("source") != "network":
            return False
        if not self.url_pattern.search(entry.get("url", "")):
            return False
        if self.status is None:
            return True
        return re.search(r"\bstatus of %d\b" % self.status, entry.get("text", "")) is not None

    def __repr__(self):
        return "AllowedNetworkError(%r, %r)" % (self.url_pattern.pattern, self.status)


def find_chromium():
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome",
                 "google-chrome-stable"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


class Browser:
    """One headless Chromium and one attached page. Not thread-safe: one caller at a time."""

    def __init__(self, proc, to_browser, from_browser, profile_dir, log_path):
        self._proc = proc
        self._out = to_browser          # we write commands here (the browser's fd 3)
        self._in = from_browser         # the browser writes here (its fd 4)
        self._profile_dir = profile_dir
        self.log_path = log_path
        self._next_id = 0
        self._lock = threading.Lock()   # guards _pending, _responses, _events, _closed
        self._cond = threading.Condition(self._lock)
        self._responses = {}
        self._events = []               # every event, in arrival order: (monotonic, message)
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()
        self.session_id = None
        self.target_id = None
        self.version = None

    # -- start and stop -------------------------------------------------------------------------

    @classmethod
    def launch(cls, chromium=None, extra_args=(), log_dir=None, timeout=30.0):
        """Starts Chromium headless with a fresh profile and attaches to a new page target."""
        chromium = chromium or find_chromium()
        if not chromium:
            raise CdpError("no Chromium found (apt-get install chromium, or set CHROMIUM)")
        profile_dir = tempfile.mkdtemp(prefix="cdp-profile-")
        log_path = os.path.join(log_dir or profile_dir, "chromium.log")
        # Two pipes: commands (we write, the browser reads on its fd 3) and answers (the browser
        # writes on its fd 4). The browser's ends are moved above the low fds first, so that the
        # shell's "3<&R 4>&W" cannot clobber one with the other (bash: dash takes single-digit
        # fds only), then passed to the child.
        cmd_r, cmd_w = os.pipe()
        ans_r, ans_w = os.pipe()
        child_r = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 64)
        child_w = fcntl.fcntl(ans_w, fcntl.F_DUPFD_CLOEXEC, 64)
        os.close(cmd_r)
        os.close(ans_w)
        args = [chromium, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--remote-debugging-pipe", "--user-data-dir=" + profile_dir,
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync", "--mute-audio",
                "--disable-dev-shm-usage", "--hide-scrollbars", "--disable-breakpad",
                "--disable-crash-reporter",
                "--disable-features=Translate,MediaRouter,OptimizationHints",
                *extra_args, "about:blank"]
        log = open(log_path, "wb")
        try:
            proc = subprocess.Popen(
                ["/bin/bash", "-c",
                 'exec 3<&%d 4>&%d %d<&- %d>&-; exec "$@"' % (child_r, child_w, child_r, child_w),
                 "bash", *args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                pass_fds=(child_r, child_w), start_new_session=True)
        except OSError:
            for fd in (cmd_w, ans_r, child_r, child_w):
                os.close(fd)
            shutil.rmtree(profile_dir, ignore_errors=True)
            raise
        finally:
            log.close()
        os.close(child_r)
        os.close(child_w)
        b = cls(proc, os.fdopen(cmd_w, "wb", buffering=0), os.fdopen(ans_r, "rb", buffering=0),
                profile_dir, log_path)
        try:
            b.version = b.send("Browser.getVersion", timeout=timeout,
                               session=False).get("product", "?")
            b._attach_page(timeout)
        except BaseException:
            b.close()
            raise
        return b

    def _attach_page(self, timeout):
        target = self.send("Target.createTarget", {"url": "about:blank"}, timeout=timeout,
                           session=False)
        self.target_id = target["targetId"]
        attached = self.send("Target.attachToTarget",
                             {"targetId": self.target_id, "flatten": True},
                             timeout=timeout, session=False)
        self.session_id = attached["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable", timeout=timeout)
        self.send("Page.setLifecycleEventsEnabled", {"enabled": True}, timeout=timeout)

    def close(self, timeout=10.0):
        """Browser.close, then SIGKILL to the browser's process group if it is still there; removes
        the profile. Safe to call more than once."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        if proc.poll() is None:
            try:
                self.send("Browser.close", timeout=min(timeout, 5.0), session=False)
            except Exception:
                pass
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        # Its helpers (zygote, renderer, GPU, network service) share the session we started it in:
        # a moment to exit by themselves (and be reaped by the browser), then SIGKILL.
        deadline = time.monotonic() + 3
        while _group_alive(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for f in (self._out, self._in):
            try:
                f.close()
            except OSError:
                pass
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        shutil.rmtree(self._profile_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    # -- the pipe -------------------------------------------------------------------------------

    def _read_loop(self):
        buf = b""
        try:
            while True:
                chunk = self._in.read(1 << 16)
                if not chunk:
                    break
                buf += chunk
                while True:
                    nul = buf.find(b"\0")
                    if nul < 0:
                        break
                    raw, buf = buf[:nul], buf[nul + 1:]
                    try:
                        msg = json.loads(raw)
                    except ValueError:
                        continue
                    with self._cond:
                        if "id" in msg:
                            self._responses[msg["id"]] = msg
                        else:
                            self._events.append((time.monotonic(), msg))
                        self._cond.notify_all()
        except (OSError, ValueError):
            pass
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def send(self, method, params=None, timeout=10.0, session=True):
        """Sends one command (to the page's session unless session=False) and returns its result;
        raises CdpError on an error answer, a timeout or a closed pipe."""
        with self._cond:
            if self._closed:
                raise CdpError("browser is gone (sending %s)" % method)
            self._next_id += 1
            mid = self._next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session_id:
            msg["sessionId"] = self.session_id
        data = json.dumps(msg).encode() + b"\0"
        try:
            self._out.write(data)
        except (OSError, ValueError) as e:
            raise CdpError("cannot write %s to the browser: %s" % (method, e))
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._responses:
                left = deadline - time.monotonic()
                if self._closed:
                    raise CdpError("browser went away waiting for %s" % method)
                if left <= 0:
                    raise CdpError("no answer to %s within %.1f s" % (method, timeout))
                self._cond.wait(left)
            answer = self._responses.pop(mid)
        if "error" in answer:
            raise CdpError("%s failed: %s" % (method, answer["error"]))
        return answer.get("result", {})

    def events(self, method=None, since=0):
        """Events received so far (optionally one method's), of this page's session or the
        browser's own, as (monotonic time, message)."""
        with self._lock:
            evs = list(self._events[since:])
        return [e for e in evs if method is None or e[1].get("method") == method]

    def event_count(self):
        with self._lock:
            return len(self._events)

    def wait_event(self, method, since, timeout, predicate=None):
        """Waits for an event of `method` received after index `since`; returns its params."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _, msg in self._events[since:]:
                    if msg.get("method") == method and (predicate is None or predicate(msg)):
                        return msg.get("params", {})
                left = deadline - time.monotonic()
                if self._closed:
                    raise CdpError("browser went away waiting for %s" % method)
                if left <= 0:
                    raise CdpError("no %s within %.1f s" % (method, timeout))
                self._cond.wait(left)

    # -- page helpers ---------------------------------------------------------------------------

    def navigate(self, url, timeout=15.0):
        """Navigates the page and waits for its load event; raises on a navigation error."""
        mark = self.event_count()
        result = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if result.get("errorText"):
            raise CdpError("navigation to %s failed: %s" % (url, result["errorText"]))
        self.wait_event("Page.loadEventFired", mark, timeout)

    def reload(self, timeout=15.0):
        mark = self.event_count()
        self.send("Page.reload", {"ignoreCache": True}, timeout=timeout)
        self.wait_event("Page.loadEventFired", mark, timeout)

    def evaluate(self, expression, timeout=10.0):
        """Evaluates a JavaScript expression in the page (promises awaited) and returns its value
        by value (JSON-able values only); raises CdpError with the exception's text if it
        throws."""
        result = self.send("Runtime.evaluate",
                           {"expression": expression, "returnByValue": True,
                            "awaitPromise": True, "userGesture": True,
                            "timeout": int(timeout * 1000)},
                           timeout=timeout + 2)
        if "exceptionDetails" in result:
            d = result["exceptionDetails"]
            text = d.get("exception", {}).get("description") or d.get("text", "exception")
            raise CdpError("evaluate(%s) threw: %s" % (_short(expression), text))
        value = result.get("result", {})
        return value.get("value")

    def wait_for(self, expression, timeout=10.0, interval=0.05, what=None):
        """Polls `expression` every `interval` s until it is truthy; returns its value. Raises
        CdpError naming `what` (or the expression) on timeout."""
        deadline = time.monotonic() + timeout
        last_error = None
        while True:
            try:
                value = self.evaluate(expression, timeout=max(1.0, min(5.0, timeout)))
                if value:
                    return value
                last_error = None
            except CdpError as e:
                if "browser went away" in str(e) or "browser is gone" in str(e):
                    raise
                last_error = e
            if time.monotonic() >= deadline:
                raise CdpError("timed out after %.1f s waiting for %s%s" % (
                    timeout, what or _short(expression),
                    " (last error: %s)" % last_error if last_error else ""))
            time.sleep(interval)

    def screenshot(self, path, full_page=False, timeout=20.0):
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params, timeout=timeout)["data"]
        png = base64.b64decode(data)
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "wb") as f:
            f.write(png)
        return len(png)

    def set_viewport(self, width, height, mobile=False, scale=None):
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height,
                   "deviceScaleFactor": scale if scale is not None else (3 if mobile else 1),
                   "mobile": mobile})
        self.send("Emulation.setTouchEmulationEnabled", {"enabled": bool(mobile)})

    # -- what went wrong in the page ------------------------------------------------------------

    def console_errors(self, allow=(), since=0):
        """Console 'error' and 'assert' calls, uncaught exceptions and Log entries of level
        'error' (of events from index `since` on), as readable strings; Log network entries
        matching one of `allow` (AllowedNetworkError) are left out."""
        out = []
        for _, msg in self.events(since=since):
            method, p = msg.get("method"), msg.get("params", {})
            if method == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                args = " ".join(_remote_object_text(a) for a in p.get("args", []))
                where = ""
                frames = (p.get("stackTrace") or {}).get("callFrames") or []
                if frames:
                    f = frames[0]
                    where = " at %s:%s" % (f.get("url"), f.get("lineNumber", 0) + 1)
                out.append("console.%s: %s%s" % (p["type"], args, where))
            elif method == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                text = (d.get("exception") or {}).get("description") or d.get("text", "")
                out.append("uncaught exception: %s (%s:%s)" % (
                    text, d.get("url", ""), d.get("lineNumber", 0) + 1))
            elif method == "Log.entryAdded":
                e = p.get("entry", {})
                if e.get("level") != "error":
                    continue
                if any(a.matches(e) for a in allow):
                    continue
                out.append("log %s error: %s%s" % (e.get("source"), e.get("text"),
                                                   " (%s)" % e["url"] if e.get("url") else ""))
        return out


def _group_alive(pgid):
    """Whether a process of group `pgid` is still running (zombies do not count)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def _remote_object_text(obj):
    if "value" in obj:
        v = obj["value"]
        return v if isinstance(v, str) else json.dumps(v)
    return obj.get("description") or obj.get("unserializableValue") or obj.get("type", "?")


def _short(text, n=120):
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n - 3] + "..."
