//! Passing open descriptors between processes over a Unix socket (`SCM_RIGHTS`).
//!
//! An unprivileged server cannot enter an environment's network namespace, so the
//! sandbox init makes the namespace's listening sockets itself and sends them here.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

/// Most descriptors sent in one message.
const MAX_FDS: usize = 4;

/// Send `fds` (and one byte, so the message is never empty) on `sock`.
pub fn send(sock: RawFd, fds: &[RawFd]) -> std::io::Result<()> {
    assert!(
        fds.len() <= MAX_FDS,
        "at most {MAX_FDS} descriptors per message"
    );
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let payload = std::mem::size_of_val(fds) as u32;
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(payload) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: the control buffer has room for one header with `payload` bytes.
    unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(payload) as _;
        std::ptr::copy_nonoverlapping(
            fds.as_ptr().cast::<u8>(),
            libc::CMSG_DATA(cmsg),
            payload as usize,
        );
    }
    loop {
        // SAFETY: msg points at live buffers.
        let n = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        if n >= 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Receive exactly `count` descriptors sent by [`send`] (blocking; honours the
/// socket's receive timeout).
pub fn recv(sock: RawFd, count: usize) -> std::io::Result<Vec<OwnedFd>> {
    assert!(
        count <= MAX_FDS,
        "at most {MAX_FDS} descriptors per message"
    );
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space =
        unsafe { libc::CMSG_SPACE((MAX_FDS * std::mem::size_of::<RawFd>()) as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: a zeroed msghdr is valid; every pointer set below outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    let n = loop {
        // SAFETY: msg points at live buffers; received descriptors are close-on-exec.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n >= 0 {
            break n;
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    };
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel wrote into our buffer; each
    // SCM_RIGHTS descriptor is new in this process and owned from here on.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg);
                let len = (*cmsg).cmsg_len as usize - (data as usize - cmsg as usize);
                for i in 0..len / std::mem::size_of::<RawFd>() {
                    let fd = std::ptr::read_unaligned(data.cast::<RawFd>().add(i));
                    fds.push(OwnedFd::from_raw_fd(fd));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if n == 0 && fds.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "the sandbox init closed its socket without sending its listeners",
        ));
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 || fds.len() != count {
        return Err(std::io::Error::other(format!(
            "expected {count} descriptors from the sandbox init, got {}",
            fds.len()
        )));
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;

    #[test]
    fn descriptors_arrive_and_work() {
        let (a, b) = UnixStream::pair().unwrap();
        let (mut r, mut w) = std::io::pipe().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        send(a.as_raw_fd(), &[w.as_raw_fd(), listener.as_raw_fd()]).unwrap();
        let got = recv(b.as_raw_fd(), 2).unwrap();
        // The received pipe end writes into the same pipe.
        let mut w2 = std::fs::File::from(got.into_iter().next().unwrap());
        w2.write_all(b"hi").unwrap();
        drop(w2);
        w.write_all(b"!").unwrap();
        drop(w);
        let mut s = String::new();
        r.read_to_string(&mut s).unwrap();
        assert_eq!(s, "hi!");
    }

    #[test]
    fn a_closed_sender_is_an_error_not_a_hang() {
        let (a, b) = UnixStream::pair().unwrap();
        drop(a);
        let e = recv(b.as_raw_fd(), 2).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn too_few_descriptors_is_an_error() {
        let (a, b) = UnixStream::pair().unwrap();
        let (_r, w) = std::io::pipe().unwrap();
        send(a.as_raw_fd(), &[w.as_raw_fd()]).unwrap();
        assert!(recv(b.as_raw_fd(), 2).is_err());
    }
}
