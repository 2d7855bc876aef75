//! Is an add-on up? It is when it answers its own protocol, as `pg_isready` and
//! `redis-cli PING` check: Postgres answers a startup message with an authentication
//! request (or an error other than "starting up"), Redis answers PING (or NOAUTH).

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::domain::AddonKind;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// It accepts connections.
    Up,
    /// It answers but is not ready yet (recovery, loading its data).
    Starting,
    /// No answer, or not its protocol: why.
    Down(String),
}

/// Asks the add-on at `addr` whether it serves, within `timeout`.
pub async fn probe(kind: AddonKind, addr: SocketAddr, timeout: Duration) -> Probe {
    match tokio::time::timeout(timeout, exchange(kind, addr)).await {
        Ok(Ok(answer)) => read_answer(kind, &answer),
        Ok(Err(e)) => Probe::Down(format!("{addr}: {e}")),
        Err(_) => Probe::Down(format!("{addr}: no answer within {timeout:?}")),
    }
}

async fn exchange(kind: AddonKind, addr: SocketAddr) -> std::io::Result<Vec<u8>> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.write_all(&hello(kind)).await?;
    let mut answer = vec![0u8; 512];
    let n = stream.read(&mut answer).await?;
    answer.truncate(n);
    Ok(answer)
}

/// The first bytes a client sends.
fn hello(kind: AddonKind) -> Vec<u8> {
    match kind {
        AddonKind::Postgres => {
            let mut body = Vec::new();
            body.extend_from_slice(&196_608u32.to_be_bytes()); // protocol 3.0
            for part in ["user", "paas", "database", "paas"] {
                body.extend_from_slice(part.as_bytes());
                body.push(0);
            }
            body.push(0);
            let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
            message.extend_from_slice(&body);
            message
        }
        AddonKind::Redis => b"PING\r\n".to_vec(),
    }
}

fn read_answer(kind: AddonKind, answer: &[u8]) -> Probe {
    if answer.is_empty() {
        return Probe::Down("it closed the connection without an answer".to_owned());
    }
    match kind {
        AddonKind::Postgres => match answer[0] {
            b'R' => Probe::Up,
            b'E' => {
                // Error fields: a type byte, then a NUL-terminated string; `C` is SQLSTATE.
                let code = answer
                    .get(5..)
                    .unwrap_or_default()
                    .split(|b| *b == 0)
                    .find_map(|field| field.strip_prefix(b"C"));
                match code {
                    Some(b"57P03") => Probe::Starting,
                    _ => Probe::Up,
                }
            }
            _ => Probe::Down("it does not speak the Postgres protocol".to_owned()),
        },
        AddonKind::Redis => {
            if answer.starts_with(b"+PONG") || answer.starts_with(b"-NOAUTH") {
                Probe::Up
            } else if answer.starts_with(b"-LOADING") {
                Probe::Starting
            } else {
                Probe::Down("it does not answer PING".to_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_postgres_startup_message_is_length_prefixed_protocol_3() {
        let m = hello(AddonKind::Postgres);
        assert_eq!(
            u32::from_be_bytes([m[0], m[1], m[2], m[3]]) as usize,
            m.len()
        );
        assert_eq!(&m[4..8], &[0, 3, 0, 0]);
        assert!(m.ends_with(b"paas\0\0"));
    }

    #[test]
    fn postgres_answers_are_read_as_pg_isready_reads_them() {
        assert_eq!(
            read_answer(AddonKind::Postgres, b"R\0\0\0\x0c\0\0\0\x0a"),
            Probe::Up
        );
        let starting = b"E\0\0\0\x20SFATAL\0C57P03\0Mthe database system is starting up\0\0";
        assert_eq!(read_answer(AddonKind::Postgres, starting), Probe::Starting);
        let refused = b"E\0\0\0\x20SFATAL\0C28P01\0Mpassword authentication failed\0\0";
        assert_eq!(read_answer(AddonKind::Postgres, refused), Probe::Up);
        assert!(matches!(
            read_answer(AddonKind::Postgres, b"HTTP/1.1 400"),
            Probe::Down(_)
        ));
    }

    #[test]
    fn redis_answers_pong_noauth_or_loading() {
        assert_eq!(read_answer(AddonKind::Redis, b"+PONG\r\n"), Probe::Up);
        assert_eq!(
            read_answer(AddonKind::Redis, b"-NOAUTH Authentication required.\r\n"),
            Probe::Up
        );
        assert_eq!(
            read_answer(AddonKind::Redis, b"-LOADING Redis is loading\r\n"),
            Probe::Starting
        );
        assert!(matches!(read_answer(AddonKind::Redis, b""), Probe::Down(_)));
    }

    #[tokio::test]
    async fn nothing_listening_is_down() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let probe = probe(AddonKind::Redis, addr, Duration::from_secs(1)).await;
        assert!(matches!(probe, Probe::Down(_)), "{probe:?}");
    }

    proptest! {
        #[test]
        fn any_answer_is_read_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = read_answer(AddonKind::Postgres, &bytes);
            let _ = read_answer(AddonKind::Redis, &bytes);
        }
    }
}
