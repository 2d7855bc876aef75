//! A build's log: every output line, written to the Build record in batches so a chatty
//! build does not become one database write per line.

use crate::store::Store;

const BATCH_BYTES: usize = 16 * 1024;

pub struct BuildLog {
    store: Store,
    build_id: i64,
    pending: String,
}

impl BuildLog {
    pub fn new(store: Store, build_id: i64) -> Self {
        BuildLog {
            store,
            build_id,
            pending: String::new(),
        }
    }

    pub async fn line(&mut self, text: &str) {
        self.pending.push_str(text);
        self.pending.push('\n');
        if self.pending.len() >= BATCH_BYTES {
            self.flush().await;
        }
    }

    /// Writes what is pending; call once more when the build is over.
    pub async fn flush(&mut self) {
        let text = std::mem::take(&mut self.pending);
        if text.is_empty() {
            return;
        }
        let (store, id) = (self.store.clone(), self.build_id);
        let _ = store.write(move |tx| tx.append_build_log(id, &text)).await;
    }
}
