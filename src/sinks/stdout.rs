//! Standard output, for piping into a forwarder. A closed pipe is a delivery failure.

use std::fs::File;
use std::io::{ErrorKind, Write};
use std::os::fd::AsFd;

use super::{Batch, Sink, SinkError};

/// Writes newline-framed records to fd 1, unbuffered beyond the batch, so the count of records
/// that got through before a closed pipe is exact.
pub struct StdoutSink {
    out: File,
}

impl StdoutSink {
    pub fn new() -> std::io::Result<StdoutSink> {
        let fd = std::io::stdout().as_fd().try_clone_to_owned()?;
        Ok(StdoutSink { out: File::from(fd) })
    }
}

impl Sink for StdoutSink {
    fn name(&self) -> String {
        "stdout".to_string()
    }

    fn send(&mut self, batch: &Batch) -> Result<(), SinkError> {
        let data = batch.framed();
        let mut done = 0;
        while done < data.len() {
            match self.out.write(&data[done..]) {
                Ok(0) => return Err(SinkError::Closed { written: batch.records_within(done) }),
                Ok(n) => done += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == ErrorKind::BrokenPipe => {
                    return Err(SinkError::Closed { written: batch.records_within(done) })
                }
                Err(source) => {
                    return Err(SinkError::Io {
                        action: "cannot write to",
                        path: "stdout".into(),
                        written: batch.records_within(done),
                        source,
                    })
                }
            }
        }
        Ok(())
    }
}
