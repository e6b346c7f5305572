//! Real-time set-up for the media thread: SCHED_FIFO priority and locked memory, so a 10 ms
//! tick is not delayed by ordinary tasks or by page faults.

use std::io;

use nix::sys::mman::{MlockAllFlags, mlockall};

/// Puts the calling thread under SCHED_FIFO at `priority` (1..=99; needs CAP_SYS_NICE or root).
pub fn set_realtime(priority: i32) -> io::Result<()> {
    let param = libc::sched_param {
        sched_priority: priority,
    };
    // SAFETY: `param` is a valid sched_param that lives across the call; pid 0 is this thread.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The calling thread's scheduling policy and priority.
pub fn current_policy() -> (i32, i32) {
    let mut param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain queries of this thread with a valid out pointer.
    let policy = unsafe { libc::sched_getscheduler(0) };
    unsafe { libc::sched_getparam(0, &mut param) };
    (policy, param.sched_priority)
}

/// Locks all current and future pages of the process in RAM.
pub fn lock_memory() -> io::Result<()> {
    mlockall(MlockAllFlags::MCL_CURRENT | MlockAllFlags::MCL_FUTURE).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn realtime_priority_is_set_or_refused_cleanly() {
        // In a thread of its own so the test runner's threads keep their policy.
        std::thread::spawn(|| match set_realtime(10) {
            Ok(()) => assert_eq!(current_policy(), (libc::SCHED_FIFO, 10)),
            Err(e) => assert_eq!(e.raw_os_error(), Some(libc::EPERM)),
        })
        .join()
        .unwrap();
        assert!(set_realtime(1000).is_err());
    }
}
