//! A private network namespace per environment, with the host's listening sockets
//! made inside it: the Runtime API at `127.0.0.1:9001` and Nimbus's AWS endpoint at
//! `127.0.0.1:4566`. A socket stays bound to the namespace it was made in, so the
//! host serves them from its own runtime while the function sees only loopback.

use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd};

/// Where the environment reaches the Runtime API and Nimbus's APIs.
pub const RUNTIME_API_ADDR: &str = "127.0.0.1:9001";
pub const ENDPOINT_ADDR: &str = "127.0.0.1:4566";

pub struct NetNs {
    /// An open `/proc/.../ns/net`: the environment's init `setns`es into it.
    pub fd: OwnedFd,
    pub runtime_api: TcpListener,
    pub endpoint: TcpListener,
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
/// bind the Runtime API and endpoint listeners.
pub fn listen_here() -> std::io::Result<(TcpListener, TcpListener)> {
    bring_up_loopback()?;
    Ok((
        TcpListener::bind(RUNTIME_API_ADDR)?,
        TcpListener::bind(ENDPOINT_ADDR)?,
    ))
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
            let (runtime_api, endpoint) = listen_here()?;
            let fd = std::fs::File::open("/proc/thread-self/ns/net")?;
            Ok(NetNs {
                fd: OwnedFd::from(fd),
                runtime_api,
                endpoint,
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
