"""dmrswitch-import (tools/import) on the FreeDMR-format fixtures in fixtures/.

Every test runs the importer as an operator does (`dmrswitch-import freedmr.cfg [rules.py]`,
from the fixtures directory so that the report names files as given) and checks
  (a) the TOML it prints, read with tomllib,
  (b) that the hub's own parser accepts it: config_check links ctrlplane/config and prints what
      cp::ParseConfig read, which must agree with tomllib,
  (c) the report on standard error, line by line, and the exit status (0 = converted fully,
      1 = items not carried over, 2 = input error with nothing on standard output).
It also checks that docs/migrating-from-freedmr.md shows the importer's output verbatim. meson
runs it (suite `import`) with DMRSWITCH_IMPORT, DMRSWITCH_CONFIG_CHECK, IMPORT_FIXTURES and
DMRSWITCH_SOURCE_ROOT in the environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import tempfile
import tomllib
import unittest

IMPORT = os.environ["DMRSWITCH_IMPORT"]
CONFIG_CHECK = os.environ["DMRSWITCH_CONFIG_CHECK"]
FIXTURES = os.environ["IMPORT_FIXTURES"]
SOURCE_ROOT = os.environ["DMRSWITCH_SOURCE_ROOT"]

LOST, NOTE = ": not carried over: ", ": note: "


@dataclasses.dataclass
class Run:
    status: int
    toml: str
    report: list[str]


def run_import(*args: str, cwd: str = FIXTURES, env: dict[str, str] | None = None) -> Run:
    proc = subprocess.run([IMPORT, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env=env)
    return Run(proc.returncode, proc.stdout, proc.stderr.splitlines())


def hub_check(toml_text: str) -> tuple[int, list[str]]:
    """config_check on the text: (exit status, output lines)."""
    with tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False) as f:
        f.write(toml_text)
        path = f.name
    try:
        proc = subprocess.run([CONFIG_CHECK, path], capture_output=True, text=True, timeout=60)
        return proc.returncode, proc.stdout.splitlines()
    finally:
        os.unlink(path)


def uncomment_peers(toml_text: str) -> str:
    """The output with its commented-out [[obp]] tables made live (what an operator does after
    filling in what the report asked for)."""
    out = []
    for line in toml_text.splitlines():
        if line.startswith("# [[obp]]") or re.match(r"# [a-z_]+ = ", line):
            line = line[2:]
        out.append(line)
    return "\n".join(out) + "\n"


class ImportTestCase(unittest.TestCase):
    maxDiff = None

    def convert(self, *args: str, status: int) -> tuple[dict, Run]:
        """Runs the importer, checks the exit status, reads the TOML and has the hub's parser
        accept it and agree with tomllib on what it says."""
        run = run_import(*args)
        self.assertEqual(run.status, status, "\n".join(run.report))
        config = tomllib.loads(run.toml)
        code, summary = hub_check(run.toml)
        self.assertEqual(code, 0, "\n".join(summary))
        self.assertHubAgrees(config, summary)
        return config, run

    def assertHubAgrees(self, config: dict, summary: list[str]) -> None:
        hub, hbp, acl = config.get("hub", {}), config.get("hbp", {}), config.get("acl", {})
        expected = [
            "ok",
            f"hub.server_id {hub.get('server_id', 0)}",
            f"hbp.listen {hbp.get('listen', '0.0.0.0:62031')}",
            f"hbp.max_clients {hbp.get('max_clients', 10000)}",
            f"hbp.static {len(hbp.get('static', []))}",
            f"acl.reg {acl.get('reg', 'PERMIT:ALL')}",
            f"acl.sub {acl.get('sub', 'DENY:1')}",
            f"acl.tg_ts1 {acl.get('tg_ts1', 'PERMIT:ALL')}",
            f"acl.tg_ts2 {acl.get('tg_ts2', 'PERMIT:ALL')}",
        ] + [f"obp {p['name']} {p['listen']} {p['target']} v{p.get('version', 5)}"
             for p in config.get("obp", [])]
        self.assertEqual(summary, expected)

    def assertFails(self, *args: str, report: list[str]) -> None:
        run = run_import(*args)
        self.assertEqual(run.status, 2, "\n".join(run.report))
        self.assertEqual(run.toml, "")
        self.assertEqual(run.report, report)


class DockerLayoutTest(ImportTestCase):
    """FreeDMR's Docker configuration: the proxy in front of 100 generated MASTER systems."""

    def test_converts_to_one_listener_on_the_proxy_port(self) -> None:
        config, run = self.convert("docker.cfg", status=1)
        self.assertEqual(config, {
            "hub": {"server_id": 31299, "log_level": "info"},
            "hbp": {
                "listen": "0.0.0.0:62031", "passphrase": "", "allow_null_passphrase": True,
                "max_clients": 100, "ping_time_s": 10, "max_missed": 3, "group_hangtime_s": 5,
                "default_ua_timer_min": 10, "single_mode": True,
            },
            "acl": {"reg": "DENY:1", "sub": "DENY:1", "tg_ts1": "PERMIT:ALL",
                    "tg_ts2": "PERMIT:ALL"},
            "obp": [{
                "name": "OBP-TEST", "listen": "0.0.0.0:62044", "target": "198.18.7.1:62044",
                "network_id": 3129900, "passphrase": "mypass", "version": 5,
                "relax_checks": True, "use_acl": True, "sub_acl": "DENY:1",
                "tgid_acl": "PERMIT:ALL",
            }],
        })
        self.assertEqual(run.report, [
            "docker.cfg:4: [GLOBAL] VALIDATE_SERVER_IDS: not carried over: dmrswitch does not "
            "download FreeDMR's server list to check the originating server of FBP traffic",
            "docker.cfg:7: [REPORTS] REPORT: not carried over: FreeDMR's report socket for "
            "dashboards (netstrings on TCP 4321) has no key in this dmrswitch configuration yet",
            "docker.cfg:11: [ALIASES]: note: dmrswitch downloads no ID lists (what FreeDMR "
            "checks with them is reported at VALIDATE_SERVER_IDS and ALLOW_UNREG_ID)",
            "docker.cfg:36: [SYSTEM] EXPORT_AMBE: note: no longer read by FreeDMR; ignored",
            "docker.cfg:37: [SYSTEM] IP: note: 127.0.0.1: hotspots reach this MASTER through "
            "FreeDMR's hotspot proxy on 0.0.0.0:62031; dmrswitch needs no proxy and listens "
            "there itself (stop the proxy first)",
            "docker.cfg:39: [SYSTEM] PASSPHRASE: note: empty with ALLOW_NULL_PASSPHRASE True: an "
            "open hub (any password is accepted), as in FreeDMR",
            "docker.cfg:48: [SYSTEM] VOICE_IDENT: not carried over: dmrswitch plays no voice "
            "ident",
            "docker.cfg:52: [SYSTEM] ANNOUNCEMENT_LANGUAGE: note: dmrswitch plays no voice "
            "prompts (a client's LANG= option is only stored)",
            "docker.cfg:53: [SYSTEM] GENERATOR: note: 100: FreeDMR runs 100 copies of this MASTER "
            "(ports 54000-54099), one hotspot each, because options and statics live per system "
            "there; dmrswitch keeps them per client on one socket",
            "docker.cfg:54: [SYSTEM] ALLOW_UNREG_ID: not carried over: False: FreeDMR admits only "
            "IDs found in the downloaded RadioID lists, with a matching callsign; dmrswitch "
            "checks acl.reg and the passphrase only",
            "docker.cfg:55: [SYSTEM] PROXY_CONTROL: note: the proxy's IP blocking after refused "
            "logins is replaced by dmrswitch's login rate limit (hbp.login_burst, "
            "login_window_s, login_block_s)",
            "docker.cfg:59: [ECHO] MODE: not carried over: PEER: the link to FreeDMR's parrot "
            "process (a group call to TG 9990); dmrswitch has no outbound HBP connections: its "
            "own parrot answers a private call to 9990 and a group call to TG 9990 alike "
            "(PROTOCOL.md Part A §10)",
        ])

    def test_comments_name_where_each_value_came_from(self) -> None:
        run = run_import("docker.cfg")
        self.assertIn('server_id = 31299   # [GLOBAL] SERVER_ID (docker.cfg:5)', run.toml)
        self.assertIn('# [GLOBAL] PING_TIME (FreeDMR default)', run.toml)
        self.assertIn('listen = "0.0.0.0:62031"      # the hotspot proxy\'s default '
                      '0.0.0.0:62031', run.toml)


class CompleteTest(ImportTestCase):
    """Every section and option the importer reads, with a rules.py of every bridge kind."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.run_result = run_import("complete.cfg", "complete_rules.py")
        cls.config = tomllib.loads(cls.run_result.toml)

    def test_the_hub_accepts_it(self) -> None:
        self.convert("complete.cfg", "complete_rules.py", status=1)

    def test_masters_collapse_into_the_first_ones_listener(self) -> None:
        self.assertEqual(self.config["hbp"], {
            "listen": "0.0.0.0:62031", "passphrase": "passw0rd", "allow_null_passphrase": False,
            "max_clients": 120, "ping_time_s": 5, "max_missed": 4, "group_hangtime_s": 5,
            "default_ua_timer_min": 10, "single_mode": True,
            "static": [
                {"client": 3120001, "ts1": [91], "ts2": [3100, 235]},
                {"client": 3120002, "ts1": [91], "ts2": [3100, 235]},
                {"client": 3120003, "ts1": [91], "ts2": [3100, 235]},
            ],
        })
        self.assertEqual(self.config["hub"], {"server_id": 31299, "log_level": "warn"})

    def test_acls_global_and_proxy_blacklist(self) -> None:
        # 7654321 is on the proxy's BlackList but [REPEATERS], reached directly, admits it.
        self.assertEqual(self.config["acl"], {
            "reg": "DENY:1,1234567", "sub": "DENY:1", "tg_ts1": "PERMIT:ALL",
            "tg_ts2": "DENY:4000-4999"})

    def test_peers(self) -> None:
        peers = {p["name"]: p for p in self.config["obp"]}
        self.assertEqual(list(peers),
                         ["OBP-FREEDMR", "BM-2341", "OBP-V4", "OBP_Backup", "OBP-V6"])
        self.assertEqual(peers["OBP-FREEDMR"]["passphrase"], "a-passphrase-longer-")
        self.assertEqual(peers["BM-2341"], {
            "name": "BM-2341", "listen": "0.0.0.0:62035", "target": "198.18.8.1:62035",
            "network_id": 2341, "passphrase": 'bm"secret\\', "version": 1,
            "relax_checks": False, "use_acl": True, "sub_acl": "DENY:1",
            "tgid_acl": "PERMIT:91,235,2341"})
        self.assertEqual(peers["OBP-V4"]["version"], 5)
        self.assertEqual(peers["OBP-V4"]["listen"], "198.18.0.1:62046")
        self.assertEqual((peers["OBP_Backup"]["sub_acl"], peers["OBP_Backup"]["use_acl"]),
                         ("PERMIT:ALL", False))
        # An IPv6 peer on a dual-stack listener ("::" in FreeDMR) carries over as it is.
        self.assertEqual((peers["OBP-V6"]["listen"], peers["OBP-V6"]["target"]),
                         ("[::]:62052", "[2001:2::7]:62052"))

    def test_unusable_peers_are_written_commented_out(self) -> None:
        text = self.run_result.toml
        for name, target in (("OBP-HOSTNAME", "fbp.example.org:62048"),
                             ("OBP-DYNAMIC", "<peer address>:62049"),
                             ("OBP-CLASH", "198.18.7.8:62031")):
            self.assertIn(f'# name = "{name}"', text)
            self.assertIn(f'# target = "{target}"', text)
        self.assertEqual(text.count("# [[obp]]"), 3)

    def test_report(self) -> None:
        f, r = "complete.cfg", "complete_rules.py"
        self.assertEqual(self.run_result.report, [
            f"{f}:6: [GLOBAL] PATH: note: FreeDMR's working directory; no dmrswitch equivalent "
            "needed, ignored",
            f"{f}:16: [GLOBAL] ANNOUNCEMENT_LANGUAGES: note: dmrswitch plays no voice prompts; "
            "ignored",
            f"{f}:18: [GLOBAL] DATA_GATEWAY: not carried over: dmrswitch has no data gateway "
            "(FreeDMR sends data calls to the OPENBRIDGE system DATA-GATEWAY)",
            f"{f}:19: [GLOBAL] VALIDATE_SERVER_IDS: not carried over: dmrswitch does not download "
            "FreeDMR's server list to check the originating server of FBP traffic",
            f"{f}:20: [GLOBAL] DEBUG_BRIDGES: note: FreeDMR's bridge-table self-check; no "
            "dmrswitch equivalent needed, ignored",
            f"{f}:21: [GLOBAL] ENABLE_API: not carried over: FreeDMR's JSON-RPC API on TCP 8000 "
            "has no dmrswitch equivalent (dmrswitch-ctl talks to the hub's control socket)",
            f"{f}:24: [REPORTS] REPORT: not carried over: FreeDMR's report socket for dashboards "
            "(netstrings on TCP 4321) has no key in this dmrswitch configuration yet",
            f"{f}:30: [LOGGER] LOG_FILE: note: no dmrswitch setting (it logs to standard error); "
            "ignored",
            f"{f}:31: [LOGGER] LOG_HANDLERS: not carried over: file-timed: dmrswitch logs to "
            "standard error (the journal under systemd); it has no log file or syslog setting",
            f"{f}:33: [LOGGER] LOG_NAME: note: no dmrswitch setting (it logs to standard error); "
            "ignored",
            f"{f}:35: [ALIASES]: note: dmrswitch downloads no ID lists (what FreeDMR checks with "
            "them is reported at VALIDATE_SERVER_IDS and ALLOW_UNREG_ID)",
            f"{f}:54: [ALLSTAR] ENABLED: not carried over: AllStar control by dialling 8 has no "
            "dmrswitch equivalent",
            f"{f}:71: [PROXY] BLACKLIST: note: client IDs the proxy refuses are taken out of what "
            "the MASTER systems behind it admit (acl.reg)",
            f"{f}:72: [PROXY] IPBLACKLIST: not carried over: dmrswitch has no configured IP block "
            "list (its login rate limit blocks addresses for a while); use the firewall",
            f"{f}:80: [HOTSPOTS] IP: note: 127.0.0.1: hotspots reach this MASTER through "
            "FreeDMR's hotspot proxy on 0.0.0.0:62031; dmrswitch needs no proxy and listens "
            "there itself (stop the proxy first)",
            f"{f}:92: [HOTSPOTS] TS1_STATIC: not carried over: static TG 9 is reserved in "
            "dmrswitch (0-5, 9, 4000, 5000, 9990-9999 and above 16776415); left out",
            f"{f}:92: [HOTSPOTS] TS1_STATIC: note: written as [[hbp.static]] for the 3 client(s) "
            "[HOTSPOTS]'s REG_ACL admits",
            f"{f}:93: [HOTSPOTS] TS2_STATIC: note: written as [[hbp.static]] for the 3 client(s) "
            "[HOTSPOTS]'s REG_ACL admits",
            f"{f}:95: [HOTSPOTS] GENERATOR: note: 100: FreeDMR runs 100 copies of this MASTER "
            "(ports 54000-54099), one hotspot each, because options and statics live per system "
            "there; dmrswitch keeps them per client on one socket",
            f"{f}:96: [HOTSPOTS] ANNOUNCEMENT_LANGUAGE: note: dmrswitch plays no voice prompts (a "
            "client's LANG= option is only stored)",
            f"{f}:98: [HOTSPOTS] PROXY_CONTROL: note: the proxy's IP blocking after refused "
            "logins is replaced by dmrswitch's login rate limit (hbp.login_burst, "
            "login_window_s, login_block_s)",
            f"{f}:105: [REPEATERS] REPEAT: not carried over: True with MAX_PEERS > 1: FreeDMR "
            "copies every frame to the system's other clients whatever the talkgroup; dmrswitch "
            "routes by talkgroup only",
            f"{f}:108: [REPEATERS] PORT: not carried over: clients of [REPEATERS] send to "
            "0.0.0.0:62032; dmrswitch has one HBP listener, 0.0.0.0:62031 (from [HOTSPOTS]): "
            "reconfigure them, or redirect that port to it in the firewall",
            f"{f}:109: [REPEATERS] PASSPHRASE: not carried over: differs from [HOTSPOTS]'s; "
            "dmrswitch has one passphrase for all clients: they are refused until they use "
            "[HOTSPOTS]'s",
            f"{f}:110: [REPEATERS] GROUP_HANGTIME: not carried over: 3 differs from [HOTSPOTS]'s "
            "5; dmrswitch has one value for all clients",
            f"{f}:113: [REPEATERS] SUB_ACL: not carried over: USE_ACL: this system's own list is "
            "not carried over (its clients get one list on dmrswitch, and the MASTER systems "
            "differ); [acl] keeps [GLOBAL]'s",
            f"{f}:116: [REPEATERS] DEFAULT_UA_TIMER: not carried over: 30 differs from "
            "[HOTSPOTS]'s 10; dmrswitch has one value for all clients (clients may set TIMER= "
            "in their options)",
            f"{f}:117: [REPEATERS] SINGLE_MODE: not carried over: False differs from "
            "[HOTSPOTS]'s True; dmrswitch has one value for all clients (clients may set SINGLE= "
            "in their options)",
            f"{f}:118: [REPEATERS] VOICE_IDENT: not carried over: dmrswitch plays no voice ident",
            f"{f}:120: [REPEATERS] TS2_STATIC: not carried over: statics of [REPEATERS] apply to "
            "every client that logs in there; dmrswitch's statics name a client ID and this "
            "system admits more than 100 (REG_ACL DENY:1): add [[hbp.static]] per client or let "
            "clients set TS1=/TS2= in their options",
            f"{f}:121: [REPEATERS] DEFAULT_REFLECTOR: not carried over: 262: dmrswitch has no "
            "hub-wide default dial-a-TG; each client can set DIAL=262 in its options",
            f"{f}:123: [REPEATERS] ANNOUNCEMENT_LANGUAGE: note: dmrswitch plays no voice prompts "
            "(a client's LANG= option is only stored)",
            f"{f}:124: [REPEATERS] ALLOW_UNREG_ID: not carried over: False: FreeDMR admits only "
            "IDs found in the downloaded RadioID lists, with a matching callsign; dmrswitch "
            "checks acl.reg and the passphrase only",
            f"{f}:126: [REPEATERS] OVERRIDE_IDENT_TG: note: belongs to the voice ident; ignored",
            f"{f}:127: [REPEATERS] EXPORT_AMBE: note: no longer read by FreeDMR; ignored",
            f"{f}:128: [REPEATERS] PASSWORD: note: not a FreeDMR option for this section (FreeDMR "
            "ignores it: a typo?); ignored",
            f"{f}:136: [OBP-FREEDMR] PASSPHRASE: note: longer than 20 characters: FreeDMR uses "
            "the first 20, and so does the output",
            f"{f}:145: [OBP-FREEDMR] ENCRYPTION_KEY: note: not a FreeDMR option for this section "
            "(FreeDMR ignores it: a typo?); ignored",
            f"{f}:147: [BM-2341]: not carried over: FreeDMR sends automatically created "
            "talkgroups only to OPENBRIDGE systems whose name starts with \"OBP\"; dmrswitch "
            "sends every TG to every peer that its tgid_acl admits; its rules.py TGs would be "
            "tgid_acl = \"PERMIT:91,3100\"",
            f"{f}:161: [BM-2341] PROTO_VER: not carried over: FreeDMR relays traffic between its "
            "OPENBRIDGE systems; dmrswitch relays to classic OpenBridge peers only with relay = "
            "true (classic OpenBridge has no loop protection)",
            f"{f}:162: [BM-2341] BOTH_SLOTS: note: an HBlink3 option that FreeDMR does not read "
            "(dmrswitch's version 1 peers carry TS1 only, as FreeDMR's); ignored",
            f"{f}:173: [OBP-V4] PROTO_VER: not carried over: 4: dmrswitch speaks FreeBridge "
            "version 5 only (a FreeDMR peer moves up to 5 when it receives dmrswitch's BCVE)",
            f"{f}:175: [OBP Backup]: note: peer named 'OBP_Backup' (dmrswitch names are 1..64 of "
            "A-Z a-z 0-9 . _ -)",
            f"{f}:184: [OBP-HOSTNAME]: not carried over: peer written commented out: TARGET_IP "
            "'fbp.example.org' is a host name; dmrswitch takes IPv4 and global IPv6 addresses "
            "and the import resolves nothing: put the address in",
            f"{f}:193: [OBP-DYNAMIC]: not carried over: peer written commented out: TARGET_IP is "
            "empty (FreeDMR learns the peer's address from its keepalives); dmrswitch needs the "
            "peer's address",
            f"{f}:203: [OBP-CLASH]: not carried over: peer written commented out: its listen "
            "address 198.18.0.1:62031 collides with hbp.listen",
            f"{f}:213: [OBP-LEGACY]: note: ENABLED is False: FreeDMR skips this section; so does "
            "the import",
            f"{f}:218: [XLX-950] MODE: not carried over: XLXPEER: an outbound HBP connection to "
            "another master; dmrswitch has none",
            f"{f}:222: [ECHO] MODE: not carried over: PEER: the link to FreeDMR's parrot process "
            "(a group call to TG 9990); dmrswitch has no outbound HBP connections: its own parrot "
            "answers a private call to 9990 and a group call to TG 9990 alike (PROTOCOL.md Part "
            "A §10)",
            f"{f}:226: [PARROT-OLD] MODE: note: 'BRIDGE' is not a FreeDMR system type: FreeDMR "
            "ignores this section; so does the import",
            f"{f}:229: [MYSQL]: note: a FreeDMR 2021 section (MySQL repeater list), not in use; "
            "ignored",
            f"{r}:7: BRIDGES['91'][0]: note: [HOTSPOTS] has GENERATOR copies, which FreeDMR "
            "creates after reading the rules: this member had no effect there; ignored",
            f"{r}:8: BRIDGES['91'][1]: note: dmrswitch sends every TG to its peers (subject to "
            "their tgid_acl); nothing to add",
            f"{r}:9: BRIDGES['91'][2]: note: dmrswitch sends every TG to its peers (subject to "
            "their tgid_acl); nothing to add",
            f"{r}:12: BRIDGES['3100'][0]: not carried over: statics of [REPEATERS] apply to "
            "every client that logs in there; dmrswitch's statics name a client ID and this "
            "system admits more than 100 (REG_ACL DENY:1): add [[hbp.static]] per client or let "
            "clients set TS1=/TS2= in their options",
            f"{r}:13: BRIDGES['3100'][1]: note: user activation by talking on the TG is built "
            "into dmrswitch; nothing to add",
            f"{r}:14: BRIDGES['3100'][2]: note: dmrswitch sends every TG to its peers (subject to "
            "their tgid_acl); nothing to add",
            f"{r}:17: BRIDGES['235'][0]: not carried over: user-activated for 30 minutes; "
            "dmrswitch uses hbp.default_ua_timer_min for every TG (clients may set TIMER=)",
            f"{r}:19: BRIDGES['WORLDWIDE']: note: not a talkgroup number (FreeDMR expects one; "
            "HBlink3 takes any name): only its members count",
            f"{r}:19: BRIDGES['WORLDWIDE']: not carried over: joins different talkgroups (1, "
            "2341): dmrswitch routes by talkgroup number and does not rewrite one TG into another "
            "between systems",
            f"{r}:20: BRIDGES['WORLDWIDE'][0]: not carried over: ON/OFF/RESET name other "
            "talkgroups (2, 9, 10): dmrswitch activates a TG by talking on it, never by another "
            "TG",
            f"{r}:20: BRIDGES['WORLDWIDE'][0]: not carried over: active for the first 2 minutes "
            "after start, then user-activated: dmrswitch starts it as user-activated only",
            f"{r}:21: BRIDGES['WORLDWIDE'][1]: not carried over: a peer member switched on and "
            "off by ON/OFF triggers: dmrswitch has no per-bridge switching of peers",
            f"{r}:22: BRIDGES['WORLDWIDE'][2]: not carried over: [XLX-950] (MODE XLXPEER) "
            "connects out to another master: dmrswitch has no outbound HBP connections",
            f"{r}:25: BRIDGES['#262'][0]: not carried over: a default dial link (#262) for every "
            "client of [REPEATERS]: dmrswitch has no hub-wide default; clients can set DIAL=262 "
            "in their options",
            f"{r}:28: BRIDGES['8'][0]: note: never active (no ON trigger), as in FreeDMR; "
            "ignored",
            f"{r}:32: UNIT: note: HBlink3's unit-call systems; FreeDMR does not read it "
            "(dmrswitch routes private calls by where the target was last heard)",
        ])


class CleanTest(ImportTestCase):
    """A server dmrswitch reproduces completely: exit status 0, notes only."""

    def test_converts_fully(self) -> None:
        config, run = self.convert("clean.cfg", status=0)
        self.assertEqual(config["hbp"]["passphrase"], 's3cr"et\\%x#1')
        self.assertEqual(config["hbp"]["static"], [
            {"client": 3120001, "ts1": [91], "ts2": [3100, 235, 2620]},
            {"client": 3120002, "ts1": [91], "ts2": [3100, 235, 2620]},
        ])
        self.assertEqual((config["hbp"]["single_mode"], config["hbp"]["default_ua_timer_min"],
                          config["hbp"]["max_clients"]), (False, 15, 50))
        self.assertEqual(config["acl"]["reg"], "PERMIT:3120001-3120002")
        self.assertEqual(config["hub"], {"server_id": 312345, "log_level": "debug"})
        self.assertEqual(config["obp"][0]["passphrase"], "fbp key")
        self.assertEqual(run.report, [
            "clean.cfg:30: [repeaters] TS1_STATIC: note: written as [[hbp.static]] for the 2 "
            "client(s) [repeaters]'s REG_ACL admits",
            "clean.cfg:31: [repeaters] TS2_STATIC: note: written as [[hbp.static]] for the 2 "
            "client(s) [repeaters]'s REG_ACL admits",
        ])


class StandaloneTest(ImportTestCase):
    """No peers: MASTER ACLs join [acl]; an empty passphrase that FreeDMR checks."""

    def test_acls_fold_and_the_hub_stays_closed(self) -> None:
        config, run = self.convert("standalone.cfg", status=1)
        hbp = config["hbp"]
        self.assertFalse(hbp["allow_null_passphrase"])
        self.assertRegex(hbp["passphrase"], r"^[A-Za-z0-9_-]{20}$")
        self.assertNotEqual(hbp["passphrase"], tomllib.loads(
            run_import("standalone.cfg").toml)["hbp"]["passphrase"])
        self.assertEqual(hbp["group_hangtime_s"], 3)  # from [DEFAULT]
        self.assertEqual(hbp["default_ua_timer_min"], 0)
        self.assertEqual(hbp["max_clients"], 100)
        self.assertEqual(config["hub"]["log_level"], "off")
        self.assertEqual(config["acl"], {"reg": "PERMIT:ALL", "sub": "PERMIT:1000000-9999999",
                                         "tg_ts1": "PERMIT:ALL", "tg_ts2": "DENY:1-90"})
        self.assertNotIn("obp", config)
        s = "standalone.cfg"
        self.assertEqual(run.report, [
            f"{s}:5: [DEFAULT]: note: its options apply to every section, as in FreeDMR's "
            "configparser",
            f"{s}:17: [LOGGER] LOG_HANDLERS: note: only the null handler: FreeDMR logs nothing; "
            "so does the output (hub.log_level = \"off\")",
            f"{s}:19: [HOTSPOTS-A] IP: note: 127.0.0.1: hotspots reach this MASTER through "
            "FreeDMR's hotspot proxy on 0.0.0.0:62031; dmrswitch needs no proxy and listens "
            "there itself (stop the proxy first)",
            f"{s}:19: [HOTSPOTS-A] PASSPHRASE: not carried over: empty while "
            "ALLOW_NULL_PASSPHRASE is False (FreeDMR then admits only clients whose password is "
            "empty); dmrswitch cannot check an empty password, so the output sets a random "
            "passphrase and the hub stays closed: set the one your clients use",
            f"{s}:23: [HOTSPOTS-A] GENERATOR: note: 50: FreeDMR runs 50 copies of this MASTER "
            "(ports 54000-54049), one hotspot each, because options and statics live per system "
            "there; dmrswitch keeps them per client on one socket",
            f"{s}:26: [HOTSPOTS-A] SUB_ACL: note: joined with [GLOBAL]'s into [acl] (the same "
            "result: there are no peers)",
            f"{s}:28: [HOTSPOTS-A] TGID_TS2_ACL: note: joined with [GLOBAL]'s into [acl] (the "
            "same result: there are no peers)",
            f"{s}:29: [HOTSPOTS-A] DEFAULT_UA_TIMER: note: 0: FreeDMR's configuration treats it "
            "inconsistently (at start a TG expires at the next 52 s timer run; TIMER=0 in "
            "options means never); dmrswitch's 0 means never",
            f"{s}:35: [HOTSPOTS-B] IP: note: 127.0.0.1: hotspots reach this MASTER through "
            "FreeDMR's hotspot proxy on 0.0.0.0:62031; dmrswitch needs no proxy and listens "
            "there itself (stop the proxy first)",
            f"{s}:35: [HOTSPOTS-B]: note: merged with [HOTSPOTS-A] into the one HBP listener",
            f"{s}:39: [HOTSPOTS-B] GENERATOR: note: 50: FreeDMR runs 50 copies of this MASTER "
            "(ports 54050-54099), one hotspot each, because options and statics live per system "
            "there; dmrswitch keeps them per client on one socket",
            f"{s}:41: [HOTSPOTS-B] REG_ACL: note: ACL action 'permit' is read as DENY (FreeDMR "
            "treats any action other than exactly PERMIT as DENY); imported as DENY",
        ])


class NoMasterTest(ImportTestCase):
    """A pure bridge with SERVER_ID 0: the HBP listener is kept closed, the peers wait."""

    def test_peers_wait_for_a_server_id(self) -> None:
        config, run = self.convert("no_master.cfg", status=1)
        self.assertEqual(config["hbp"]["listen"], "127.0.0.1:62031")
        self.assertFalse(config["hbp"]["allow_null_passphrase"])
        self.assertNotIn("obp", config)
        self.assertEqual(run.report, [
            "no_master.cfg: note: no enabled MASTER system: FreeDMR served no hotspots; "
            "dmrswitch always has an HBP listener, so the output keeps it closed "
            "(127.0.0.1:62031, a random passphrase)",
            "no_master.cfg:4: [GLOBAL] SERVER_ID: not carried over: 0: dmrswitch needs a "
            "non-zero server ID to talk to peers (FreeDMR peers expect 4 to 7 digits); every "
            "[[obp]] is written commented out: set hub.server_id and uncomment them",
            "no_master.cfg:27: [OBP-B] PROTO_VER: not carried over: FreeDMR relays traffic "
            "between its OPENBRIDGE systems; dmrswitch relays to classic OpenBridge peers only "
            "with relay = true (classic OpenBridge has no loop protection)",
        ])
        # Doing what the report says gives a configuration the hub accepts, with both peers.
        fixed = uncomment_peers(run.toml.replace("server_id = 0 ", "server_id = 31299 "))
        code, summary = hub_check(fixed)
        self.assertEqual(code, 0, summary)
        self.assertEqual(summary[-2:], ["obp OBP-A 0.0.0.0:62044 198.18.7.1:62044 v5",
                                        "obp OBP-B 0.0.0.0:62045 198.18.8.1:62035 v1"])


class RulesTest(ImportTestCase):
    """rules.py is read, never run."""

    def test_non_literal_parts_are_reported_and_not_run(self) -> None:
        with tempfile.TemporaryDirectory() as tmp:
            sentinel = os.path.join(tmp, "rules-ran")
            run = run_import("docker.cfg", "rules_nonliteral.py",
                             env=dict(os.environ, IMPORT_SENTINEL=sentinel))
            self.assertFalse(os.path.exists(sentinel))
        self.assertEqual(run.status, 1)
        self.assertEqual(hub_check(run.toml)[0], 0)
        r = "rules_nonliteral.py"
        self.assertEqual([line for line in run.report if line.startswith(r)], [
            f"{r}:8: note: statement not run (def members(tg): return [{{'SYSTEM': 'SYSTEM', "
            "'TS': 2, 'T...): only the literal BRIDGES = {...} is read",
            f"{r}:13: BRIDGES['91'][0]: not carried over: not a literal ({{'SYSTEM': 'SYSTEM', "
            "'TS': 1, 'TGID': 91, 'ACTIVE': False...): it would have to be run to be known; "
            "member not read",
            f"{r}:14: BRIDGES['91'][1]: note: dmrswitch sends every TG to its peers (subject to "
            "their tgid_acl); nothing to add",
            f"{r}:16: BRIDGES: not carried over: bridge name 'TG' + '2' is not a literal; bridge "
            "not read",
            f"{r}:17: BRIDGES['3100']: not carried over: not a literal list of members "
            "(members(3100)); bridge not read",
            f"{r}:20: BRIDGES: not carried over: changed by a statement (BRIDGES['235'] = "
            "members(235)): only the literal BRIDGES = {...} is read; this statement is not run",
            f"{r}:21: note: statement not run (open(os.environ.get('IMPORT_SENTINEL', "
            "'/nonexistent/dmrs...): only the literal BRIDGES = {...} is read",
        ])

    def test_syntax_error_names_the_line(self) -> None:
        self.assertFails("docker.cfg", "rules_syntax.py", report=[
            "rules_syntax.py:5: error: Python syntax error: closing parenthesis '}' does not "
            "match opening parenthesis '[' on line 2",
        ])

    def test_members_freedmr_would_refuse(self) -> None:
        self.assertFails("docker.cfg", "rules_bad_members.py", report=[
            "rules_bad_members.py:3: BRIDGES['91'][0]: error: SYSTEM 'HOTSPOT-1' is not an "
            "enabled system of the configuration (FreeDMR stops on it)",
            "rules_bad_members.py:4: BRIDGES['91'][1]: error: member lacks 'RESET' (FreeDMR "
            "stops with a KeyError)",
            "rules_bad_members.py:7: BRIDGES['3100'][0]: error: TS 3 must be an integer 1..2",
        ])


class BrokenInputTest(ImportTestCase):
    """What FreeDMR would refuse to start with: exit status 2, every error with its line."""

    def test_line_that_is_no_option(self) -> None:
        self.assertFails("broken_syntax.cfg", report=[
            "broken_syntax.cfg:7: error: line 7 is neither a [section] header, an option "
            "(name: value) nor a comment"])

    def test_option_before_any_section(self) -> None:
        self.assertFails("broken_no_header.cfg", report=[
            "broken_no_header.cfg:2: error: text before the first [section] header: "
            "'SERVER_ID: 31299'"])

    def test_duplicate_option(self) -> None:
        self.assertFails("broken_duplicate.cfg", report=[
            "broken_duplicate.cfg:9: error: option 'port' appears twice in section [SYSTEM]"])

    def test_every_bad_value_is_named(self) -> None:
        b = "broken_values.cfg"
        self.assertFails(b, report=[
            f"{b}:4: [GLOBAL] SERVER_ID: error: '31299x' is not an integer",
            f"{b}:5: [GLOBAL] PING_TIME: error: 'ten' is not an integer",
            f"{b}:17: [PROXY] BLACKLIST: error: not JSON (Expecting ',' delimiter; the proxy "
            "stops on it)",
            f"{b}:20: [SYSTEM] DEFAULT_REFLECTOR: error: missing (FreeDMR reads it without a "
            "default and refuses to start)",
            f"{b}:24: [SYSTEM] SINGLE_MODE: error: 'maybe' is not a boolean (FreeDMR accepts "
            "1/yes/true/on and 0/no/false/off)",
            f"{b}:26: [NO-REFLECTOR] DEFAULT_REFLECTOR: error: missing (FreeDMR reads it without "
            "a default and refuses to start)",
            f"{b}:35: [PERCENT] PASSPHRASE: error: '%' must be followed by '%' or '(', found: "
            "'%secret' (FreeDMR's configparser refuses it; write %% for a literal %)",
            f"{b}:42: [STATICS] TS2_STATIC: error: static TG 'TG91' is not a number (FreeDMR "
            "stops on it)",
            f"{b}:49: [BAD-ACL] REG_ACL: error: ACL 'PERMIT:3120001-3120005,abc': entry 'abc' is "
            "not an ID, a range lo-hi or ALL (FreeDMR stops on it)",
            f"{b}:60: [OBP-VER3] PROTO_VER: error: 3 is not a protocol version FreeDMR runs (1 = "
            "OpenBridge, 4 or 5 = FreeBridge)",
            f"{b}:62: [OBP-NOPORT] TARGET_PORT: error: missing (FreeDMR reads it without a "
            "default and refuses to start)",
            f"{b}:79: [OBP-ACL] TGID_ACL: error: ACL entry '0' lies outside 1..16776415 (FreeDMR "
            "stops on it)",
            f"{b}:81: [NO-ENABLED] ENABLED: error: missing (FreeDMR reads it without a default "
            "and refuses to start)",
        ])

    def test_missing_file(self) -> None:
        self.assertFails("no-such.cfg", report=[
            "no-such.cfg: error: cannot read: No such file or directory"])

    def test_usage(self) -> None:
        run = run_import()
        self.assertEqual(run.status, 2)
        self.assertEqual(run.toml, "")
        self.assertIn("usage: dmrswitch-import", run.report[0])


class WrittenForTheTestTest(ImportTestCase):
    """Small variations written by the tests themselves."""

    def convert_text(self, text: str, status: int) -> tuple[dict, Run]:
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "freedmr.cfg")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            run = run_import("freedmr.cfg", cwd=tmp)
        self.assertEqual(run.status, status, "\n".join(run.report))
        config = tomllib.loads(run.toml)
        code, summary = hub_check(run.toml)
        self.assertEqual(code, 0, summary)
        self.assertHubAgrees(config, summary)
        return config, run

    MASTER = ("[GLOBAL]\nSERVER_ID: 31299\n[REPORTS]\nREPORT: False\n"
              "[M]\nMODE: MASTER\nENABLED: True\nIP:\nPORT: 62031\nGENERATOR: 1\n"
              "VOICE_IDENT: False\nALLOW_UNREG_ID: True\nDEFAULT_REFLECTOR: 0\n")

    def test_control_characters_and_unicode_survive_toml(self) -> None:
        config, _ = self.convert_text(self.MASTER + "PASSPHRASE: tab\there ünï \\ \"q\"\n", 0)
        self.assertEqual(config["hbp"]["passphrase"], 'tab\there ünï \\ "q"')

    def test_reserved_statics_are_left_out(self) -> None:
        config, run = self.convert_text(
            self.MASTER + "REG_ACL: PERMIT:3120001\nTS1_STATIC: 4000,91\n"
                          "TS2_STATIC: 5000,9990,16777000\n", 1)
        self.assertEqual(config["hbp"]["static"], [{"client": 3120001, "ts1": [91]}])
        self.assertEqual([line for line in run.report if LOST in line], [
            f"freedmr.cfg:15: [M] TS1_STATIC{LOST}static TG 4000 is reserved in dmrswitch (0-5, "
            "9, 4000, 5000, 9990-9999 and above 16776415); left out",
            f"freedmr.cfg:16: [M] TS2_STATIC{LOST}static TG 5000 is reserved in dmrswitch (0-5, "
            "9, 4000, 5000, 9990-9999 and above 16776415); left out",
            f"freedmr.cfg:16: [M] TS2_STATIC{LOST}static TG 9990 is reserved in dmrswitch (0-5, "
            "9, 4000, 5000, 9990-9999 and above 16776415); left out",
            f"freedmr.cfg:16: [M] TS2_STATIC{LOST}static TG 16777000 is reserved in dmrswitch "
            "(0-5, 9, 4000, 5000, 9990-9999 and above 16776415); left out",
        ])

    def test_generator_without_proxy_loses_the_other_ports(self) -> None:
        text = self.MASTER.replace("GENERATOR: 1", "GENERATOR: 3")
        config, run = self.convert_text(text, 1)
        self.assertEqual(config["hbp"]["listen"], "0.0.0.0:62031")
        self.assertEqual(config["hbp"]["max_clients"], 3)
        self.assertIn(f"freedmr.cfg:10: [M] GENERATOR{LOST}clients of the copies on ports "
                      "62032-62033 must use port 62031 (dmrswitch listens on one port)",
                      run.report)

    def test_loopback_master_outside_the_proxy_ports_stays_local(self) -> None:
        # The parrot's own configuration (loro.cfg) has such a MASTER on 127.0.0.1:54915.
        text = self.MASTER.replace("IP:\n", "IP: 127.0.0.1\n").replace("PORT: 62031", "PORT: 54915")
        config, run = self.convert_text(text, 0)
        self.assertEqual(config["hbp"]["listen"], "127.0.0.1:54915")
        self.assertIn(f"freedmr.cfg:8: [M] IP{NOTE}127.0.0.1: loopback, outside the hotspot "
                      "proxy's ports: only programs on this machine reach this MASTER, as in "
                      "FreeDMR", run.report)
        # The same MASTER on a port the proxy hands out is reached through the proxy.
        config, _ = self.convert_text(text.replace("PORT: 54915", "PORT: 54100"), 0)
        self.assertEqual(config["hbp"]["listen"], "0.0.0.0:62031")

    def test_peer_acl_defaults_are_freedmrs(self) -> None:
        # FreeDMR's empty OPENBRIDGE SUB_ACL permits everyone; dmrswitch's default is DENY:1.
        config, _ = self.convert_text(self.MASTER + (
            "[OBP-1]\nMODE: OPENBRIDGE\nENABLED: True\nPORT: 62044\nNETWORK_ID: 1\n"
            "PASSPHRASE: k\nTARGET_IP: 198.18.7.1\nTARGET_PORT: 62044\nUSE_ACL: True\n"), 1)
        self.assertEqual(config["obp"][0]["sub_acl"], "PERMIT:ALL")


class MigrationGuideTest(unittest.TestCase):
    """The worked example of docs/migrating-from-freedmr.md is the importer's real output."""

    def fenced_block_after(self, text: str, marker: str) -> str:
        start = text.index(marker)
        fence = text.index("```", start)
        body = text.index("\n", fence) + 1
        return text[body:text.index("```", body)]

    def test_worked_example_is_verbatim(self) -> None:
        with open(os.path.join(SOURCE_ROOT, "docs", "migrating-from-freedmr.md"),
                  encoding="utf-8") as f:
            guide = f.read()
        run = run_import("docker.cfg")
        self.assertEqual(self.fenced_block_after(guide, "<!-- example: docker.cfg output -->"),
                         run.toml)
        self.assertEqual(self.fenced_block_after(guide, "<!-- example: docker.cfg report -->"),
                         "".join(line + "\n" for line in run.report))


if __name__ == "__main__":
    unittest.main()
