//! The kinds of object the audit follows, and what people call each: a leaf, imported
//! by the model and by the lines of `-v` alike.

/// What kind of object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    Segment,
    Semaphore,
    /// A System V shared-memory segment (shmget).
    SysV,
    /// A System V semaphore set (semget).
    SysVSem,
    /// A System V message queue (msgget).
    SysVMsg,
    /// A POSIX message queue (mq_open): its path is where /dev/mqueue would show it.
    MQueue,
    Fifo,
}

impl Kind {
    /// A System V object, named by its id (each kind has ids of its own).
    pub fn is_sysv(self) -> bool {
        matches!(self, Kind::SysV | Kind::SysVSem | Kind::SysVMsg)
    }

    /// What people call it.
    pub fn word(self) -> &'static str {
        match self {
            Kind::Segment => "segment",
            Kind::Semaphore => "semaphore",
            Kind::SysV => "System V segment",
            Kind::SysVSem => "System V semaphore set",
            Kind::SysVMsg => "System V message queue",
            Kind::MQueue => "message queue",
            Kind::Fifo => "FIFO",
        }
    }
}
