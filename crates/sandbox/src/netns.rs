//! A private network namespace per environment, with the host's listening sockets
//! made inside it: the Runtime API at `127.0.0.1:9001`, Nimbus's AWS endpoint at
//! `127.0.0.1:4566` and the X-Ray daemon's UDP port `127.0.0.1:2000`. A socket
//! stays bound to the namespace it was made in, so the host serves them from its
//! own runtime while the function sees only loopback.

use std::net::{TcpListener, UdpSocket};
use std::os::fd::{FromRawFd, OwnedFd};

/// Where the environment reaches the Runtime API and Nimbus's APIs.
pub const RUNTIME_API_ADDR: &str = "127.0.0.1:9001";
pub const ENDPOINT_ADDR: &str = "127.0.0.1:4566";
/// Where the X-Ray SDKs send segments (`AWS_XRAY_DAEMON_ADDRESS`, as on Lambda).
pub const TRACE_DAEMON_ADDR: &str = "127.0.0.1:2000";

/// The host's sockets inside an environment's network namespace.
pub struct Listeners {
    pub runtime_api: TcpListener,
    pub endpoint: TcpListener,
    pub trace_daemon: UdpSocket,
}

pub struct NetNs {
    /// An open `/proc/.../ns/net`: the environment's init `setns`es into it.
    pub fd: OwnedFd,
    pub listeners: Listeners,
}

#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

fn bring_up_loopback() -> std::io::Result<()> {
    // SAFETY: plain socket(2); the fd is wrapped in OwnedFd at once.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };
    let mut req = IfReq {
        name: [0; 16],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    use std::os::fd::AsRawFd;
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write an ifreq we own.
    unsafe {
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
        req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) < 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// In a network namespace just made by the calling thread: bring loopback up and
/// bind the Runtime API and endpoint listeners and the trace daemon's socket.
pub fn listen_here() -> std::io::Result<Listeners> {
    bring_up_loopback()?;
    Ok(Listeners {
        runtime_api: TcpListener::bind(RUNTIME_API_ADDR)?,
        endpoint: TcpListener::bind(ENDPOINT_ADDR)?,
        trace_daemon: UdpSocket::bind(TRACE_DAEMON_ADDR)?,
    })
}

/// Make a new network namespace with loopback up and both listeners bound.
/// Runs on a short-lived thread so no pooled thread is left in the namespace.
pub fn create() -> std::io::Result<NetNs> {
    std::thread::Builder::new()
        .name("nimbus-netns".into())
        .spawn(|| -> std::io::Result<NetNs> {
            // SAFETY: unshare(2) of this thread's network namespace only.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
            let listeners = listen_here()?;
            let fd = std::fs::File::open("/proc/thread-self/ns/net")?;
            Ok(NetNs {
                fd: OwnedFd::from(fd),
                listeners,
            })
        })?
        .join()
        .map_err(|_| std::io::Error::other("network namespace thread panicked"))?
}

/// Whether this host lets us make network namespaces.
pub fn supported() -> Result<(), String> {
    create()
        .map(|_| ())
        .map_err(|e| format!("cannot create a network namespace: {e}"))
}
