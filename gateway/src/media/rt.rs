//! Real-time scheduling for the loop thread: SCHED_FIFO and locked memory when permitted.
//! Without the privilege (CAP_SYS_NICE / CAP_IPC_LOCK, or RLIMIT_RTPRIO/RLIMIT_MEMLOCK) the loop
//! still runs, at normal priority; the outcome is logged and published in `MediaStats`.

use std::io;

/// What [`enter_realtime`] obtained.
#[derive(Debug)]
pub struct RtOutcome {
    pub fifo: Result<(), io::Error>,
    pub mlock: Result<(), io::Error>,
}

impl RtOutcome {
    /// Logs what was refused (once, when the loop starts).
    pub fn log(&self) {
        if let Err(e) = &self.fifo {
            eprintln!("media: running without real-time priority: {e}");
        }
        if let Err(e) = &self.mlock {
            eprintln!("media: memory not locked: {e}");
        }
    }
}

/// Switches the calling thread to SCHED_FIFO at `priority` (skipped when 0) and locks current
/// and future memory (when `lock_memory`).
pub fn enter_realtime(priority: i32, lock_memory: bool) -> RtOutcome {
    let fifo = if priority > 0 {
        set_fifo(priority)
    } else {
        Err(io::Error::other("real-time priority not requested"))
    };
    let mlock = if lock_memory {
        lock_all()
    } else {
        Err(io::Error::other("memory locking not requested"))
    };
    RtOutcome { fifo, mlock }
}

#[cfg(target_os = "linux")]
fn set_fifo(priority: i32) -> Result<(), io::Error> {
    let param = libc::sched_param {
        sched_priority: priority.clamp(1, 99),
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for the call.
    let r = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(target_os = "linux")]
fn lock_all() -> Result<(), io::Error> {
    // SAFETY: mlockall only changes paging of this process; no memory is touched.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn set_fifo(_priority: i32) -> Result<(), io::Error> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

#[cfg(not(target_os = "linux"))]
fn lock_all() -> Result<(), io::Error> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// Touches `bytes` of stack so the pages exist before the first tick (with mlockall they then
/// stay resident; without it they are at least not faulted in during a tick).
#[inline(never)]
pub fn prefault_stack(bytes: usize) {
    const CHUNK: usize = 16 * 1024;
    let mut page = [0u8; CHUNK];
    std::hint::black_box(&mut page);
    if bytes > CHUNK {
        prefault_stack(bytes - CHUNK);
    }
}
