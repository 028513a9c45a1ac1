// Two configurations that set every key of the key table, with a different value for each key
// (B is A with everything changed), for the key-table and reload tests.
#pragma once

namespace dmrswitch::cp::testing {

inline constexpr char kFullConfigA[] = R"toml(
[hub]
server_id = 310999
mode = "afxdp"
shards = 2
control_plane = "hosted"
steering = "auto"
status_interval_s = 5
stream_capacity = 4096
parrot_recordings = 4
parrot_max_s = 30
snapshot_arena_mb = 0
log_level = "info"
runtime_name = "hub-a"
run_dir = "/tmp/dmrswitch-run-a"
ctl_socket = "/tmp/dmrswitch-a.sock"

[hbp]
listen = "127.0.0.1:62031"
passphrase = "passw0rd"
allow_null_passphrase = false
max_clients = 100
ping_time_s = 10
max_missed = 3
group_hangtime_s = 5
default_ua_timer_min = 10
single_mode = true
activate_on = "start"
login_burst = 20
login_window_s = 60
login_block_s = 300
stream_timeout_ms = 360
stream_lost_s = 5
stream_forget_s = 10
max_stream_age_s = 180
rate_limit_after_packets = 18
rate_limit_pps = 25

[[hbp.static]]
client = 3120001
ts1 = [91]
ts2 = [3100]

[[hbp.fixed_client]]
id = 3129001
address = "198.18.1.1:40001"
slots = 2
options = "TS2=91"
callsign = "N0CALL"

[acl]
reg = "PERMIT:ALL"
sub = "DENY:1"
tg_ts1 = "PERMIT:ALL"
tg_ts2 = "PERMIT:ALL"

[[obp]]
name = "peer-a"
listen = "127.0.0.1:62035"
target = "198.18.2.1:62036"
network_id = 310998
passphrase = "mypass"
version = 5
id_mode = "freedmr"
relax_checks = true
relay = true
use_acl = false
sub_acl = "DENY:1"
tgid_acl = "PERMIT:ALL"
keepalive_s = 10
dead_after_s = 60
bcve_interval_s = 60

[[obp]]
name = "peer-b"
listen = "127.0.0.1:62037"
target = "198.18.2.2:62038"
network_id = 310997
passphrase = "otherpass"

[dpdk]
eal_args = ["--no-pci"]
address = "198.18.0.1"
address6 = "2001:2::1"
gateway_mac = "02:00:00:00:00:01"
tx_port = 0

[xdp]
interface = "eth1"
attach = "auto"
source_pps = 200
source_burst = 400
source_prefix6 = 64
exempt = ["198.18.3.1"]

[fbp]
max_hops = 10
max_age_s = 5

[report]
http = "127.0.0.1:8080"
feed = "127.0.0.1:4321"
feed_json = "127.0.0.1:4322"
mqtt = "127.0.0.1:1883"
mqtt_topic = "dmrswitch/{server_id}"
mqtt_username = "hub-a"
mqtt_password_file = "/etc/dmrswitch/mqtt-a"
mqtt_bm_session = true
feed_systems = 100
feed_max_message = 99999
feed_max_connections = 16
lastheard_size = 100
talkgroups_size = 1000
api_token_file = "/etc/dmrswitch/token-a"
api_options_file = "/var/lib/dmrswitch/api-options-a.json"
)toml";

// Every value differs from A's. peer-a moves to peer-b's listen address (one the packet plane of
// A listens on), so the reload can apply it.
inline constexpr char kFullConfigB[] = R"toml(
[hub]
server_id = 310990
mode = "kernel"
shards = 4
control_plane = "separate"
steering = "bpf"
status_interval_s = 7
stream_capacity = 8192
parrot_recordings = 16
parrot_max_s = 45
snapshot_arena_mb = 96
log_level = "debug"
runtime_name = "hub-b"
run_dir = "/tmp/dmrswitch-run-b"
ctl_socket = "/tmp/dmrswitch-b.sock"

[hbp]
listen = "127.0.0.1:62041"
passphrase = "s3cret"
allow_null_passphrase = true
max_clients = 200
ping_time_s = 5
max_missed = 4
group_hangtime_s = 3
default_ua_timer_min = 0.5
single_mode = false
activate_on = "end"
login_burst = 5
login_window_s = 30
login_block_s = 60
stream_timeout_ms = 200
stream_lost_s = 3
stream_forget_s = 20
max_stream_age_s = 120
rate_limit_after_packets = 30
rate_limit_pps = 40

[[hbp.static]]
client = 3120002
ts1 = [92]
ts2 = [3101]

[[hbp.fixed_client]]
id = 3129002
address = "198.18.1.2:40002"
slots = 3
options = "TS2=92"
callsign = "N1CALL"

[acl]
reg = "DENY:1-9"
sub = "DENY:2"
tg_ts1 = "DENY:1"
tg_ts2 = "DENY:2"

[[obp]]
name = "peer-a2"
listen = "127.0.0.1:62037"
target = "198.18.2.3:62039"
network_id = 310996
passphrase = "newpass"
version = 1
id_mode = "hblink3"
relax_checks = false
relay = false
use_acl = true
sub_acl = "DENY:3"
tgid_acl = "PERMIT:91"
keepalive_s = 5
dead_after_s = 30
bcve_interval_s = 20

[[obp]]
name = "peer-b2"
listen = "127.0.0.1:62035"
target = "198.18.2.4:62040"
network_id = 310995
passphrase = "otherpass2"
version = 1
id_mode = "hblink3"
relax_checks = false
relay = false
use_acl = true
sub_acl = "DENY:4"
tgid_acl = "PERMIT:92"
keepalive_s = 6
dead_after_s = 31
bcve_interval_s = 21

[dpdk]
eal_args = ["--no-pci", "--vdev=net_null0"]
address = "198.18.0.2"
address6 = "2001:2::2"
gateway_mac = "02:00:00:00:00:02"
tx_port = 1
promiscuous = true

[xdp]
interface = "eth2"
attach = "native"
source_pps = 100
source_burst = 150
source_prefix6 = 128
exempt = ["198.18.3.2:62050", "198.18.3.3"]

[fbp]
max_hops = 3
max_age_s = 9

[report]
http = "0.0.0.0:9100"
feed = "0.0.0.0:4331"
feed_json = "0.0.0.0:4332"
mqtt = "198.18.9.9:8883"
mqtt_topic = "hubs/b"
mqtt_username = "hub-b"
mqtt_password_file = "/etc/dmrswitch/mqtt-b"
mqtt_bm_session = false
feed_systems = 300
feed_max_message = 500000
feed_max_connections = 4
lastheard_size = 500
talkgroups_size = 50
api_token_file = "/etc/dmrswitch/token-b"
api_options_file = "/var/lib/dmrswitch/api-options-b.json"
)toml";

}  // namespace dmrswitch::cp::testing
