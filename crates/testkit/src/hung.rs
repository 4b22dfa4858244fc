use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// Accepts TCP connections on 127.0.0.1 and never sends a byte: a MySQL client waiting for the
/// server greeting hangs until its own timeout, exactly as with a frozen (SIGSTOPped) server.
pub struct HungServer {
    address: SocketAddr,
    stopping: Arc<AtomicBool>,
    accepted: Arc<Mutex<Vec<TcpStream>>>,
    thread: Option<JoinHandle<()>>,
}

impl HungServer {
    pub fn start() -> io::Result<HungServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let address = listener.local_addr()?;
        let stopping = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let stopping = Arc::clone(&stopping);
            let accepted = Arc::clone(&accepted);
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        // Held open, never written to.
                        accepted
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(stream);
                    }
                }
            })
        };
        Ok(HungServer {
            address,
            stopping,
            accepted,
            thread: Some(thread),
        })
    }

    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// `127.0.0.1:PORT`.
    pub fn key(&self) -> String {
        format!("127.0.0.1:{}", self.address.port())
    }

    /// How many connections clients have opened so far.
    pub fn connections_accepted(&self) -> usize {
        self.accepted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}

impl Drop for HungServer {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
