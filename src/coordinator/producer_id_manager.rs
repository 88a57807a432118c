//! Hands out producer ids from blocks the controller reserves in the
//! metadata log (Kafka's `ProducerIdManager`), so an id is never reused,
//! across restarts included.

use std::sync::Arc;

use tokio::sync::Mutex;

use crate::controller_client::ops::PRODUCER_ID_BLOCK_SIZE;
use crate::controller_client::{ControllerChannel, ControllerError};

pub struct ProducerIdManager {
    broker_id: i32,
    controller: Arc<ControllerChannel>,
    /// `(next id, end of block exclusive)`.
    block: Mutex<(i64, i64)>,
}

impl ProducerIdManager {
    pub fn new(broker_id: i32, controller: Arc<ControllerChannel>) -> Self {
        ProducerIdManager { broker_id, controller, block: Mutex::new((0, 0)) }
    }

    pub async fn generate(&self) -> Result<i64, ControllerError> {
        let mut block = self.block.lock().await;
        if block.0 >= block.1 {
            let first = self.controller.allocate_producer_ids(self.broker_id).await?;
            *block = (first, first + PRODUCER_ID_BLOCK_SIZE);
        }
        let id = block.0;
        block.0 += 1;
        Ok(id)
    }
}
