//! Every fuzz target, bounded: seed inputs that look like the real thing, then deterministic
//! mutations of them (bytes flipped, cut, repeated, spliced), ten thousand per target. The
//! open-ended runs are `cargo +nightly fuzz run TARGET` in `fuzz/` (see docs/security.md).

use arbor_testkit::Rng;

fn seeds(target: &str) -> Vec<Vec<u8>> {
    let texts: &[&str] = match target {
        "config_json" => &[
            r#"{"InstancePollSeconds": 5, "MySQLTopologyUser": "orc", "DiscoverySeeds": ["db1:3306"]}"#,
            r#"{"RaftEnabled": true, "RaftNodes": ["a", "b:10008"], "RaftBind": "a", "ListenAddress": ":3000"}"#,
            r#"{"RecoverMasterClusterFilters": ["*"], "PowerAuthUsers": ["*"], "AuthenticationMethod": "proxy"}"#,
            r#"{"TrustedProxies": ["10.0.0.0/8", "::1"], "MySQLTopologyUseMutualTLS": true}"#,
        ],
        "replica_status_row" => &[
            "Master_Host=db1\0Master_Port=3306\0Slave_IO_Running=Yes\0Slave_SQL_Running=Yes\0Seconds_Behind_Master=0\0Exec_Master_Log_Pos=1234\0Relay_Master_Log_File=bin.000007\0Using_Gtid=Slave_Pos",
            "Source_Host=db2\0Source_Port=3307\0Replica_IO_Running=Connecting\0Replica_SQL_Running=No\0Seconds_Behind_Source\0Last_IO_Errno=2003\0Channel_Name=",
            "Server_id=3\0Host=db3\0Port=3306\0File=mysql-bin.000002\0Position=4\0Executed_Gtid_Set=x:1-5",
        ],
        "gtid_sets" => &[
            "3e11fa47-71ca-11e1-9e33-c80aa9429562:1-5:7,3e11fa47-71ca-11e1-9e33-c80aa9429562:6|3e11fa47-71ca-11e1-9e33-c80aa9429562:1-3",
            "0-1-100,1-2-5|0-1-90,1-2-5",
            "0-2-7,0-1-100|0-1-100",
            "a:1-18446744073709551615|a:18446744073709551615",
        ],
        "simfleet_protocol" => &[],
        other => panic!("no seeds for {other}"),
    };
    let mut seeds: Vec<Vec<u8>> = texts.iter().map(|t| t.as_bytes().to_vec()).collect();
    if target == "simfleet_protocol" {
        let packet = |seq: u8, payload: &[u8]| {
            let len = payload.len() as u32;
            let mut bytes = len.to_le_bytes()[..3].to_vec();
            bytes.push(seq);
            bytes.extend_from_slice(payload);
            bytes
        };
        for sql in [
            "SELECT @@version AS version, @@version_comment AS version_comment",
            "SHOW SLAVE STATUS; SHOW MASTER STATUS; SELECT @@gtid_binlog_state",
            "STOP SLAVE; CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=3307; START SLAVE",
            "SET GLOBAL read_only = 1; SELECT MASTER_GTID_WAIT('0-1-5', 1)",
        ] {
            let mut payload = vec![0x03];
            payload.extend_from_slice(sql.as_bytes());
            let mut bytes = packet(0, &payload);
            bytes.extend(packet(0, &[0x0e]));
            seeds.push(bytes);
        }
    }
    seeds
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(8) {
        let len = data.len();
        match rng.below(6) {
            0 if len > 0 => data[rng.below(len)] = rng.next_u64() as u8,
            1 if len > 0 => data.truncate(rng.below(len)),
            2 => data.insert(rng.below(len + 1), rng.next_u64() as u8),
            3 if len > 0 => {
                let (a, b) = (rng.below(len), rng.below(len));
                let (start, end) = (a.min(b), a.max(b));
                let chunk = data[start..end].to_vec();
                let at = rng.below(len + 1);
                data.splice(at..at, chunk);
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(other.len() + 1);
                data.extend_from_slice(&other[..cut]);
            }
            _ => data.extend((0..rng.below(16)).map(|_| rng.next_u64() as u8)),
        }
    }
    data
}

#[test]
fn every_target_survives_its_seeds_and_thousands_of_mutations() {
    for (name, target) in arbor_fuzz::TARGETS {
        let seeds = seeds(name);
        for seed in &seeds {
            target(seed);
        }
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
        for _ in 0..10_000 {
            let input = mutate(&mut rng, &seeds);
            target(&input);
        }
    }
}
