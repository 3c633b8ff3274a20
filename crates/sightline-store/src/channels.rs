//! Notification channels and their delivery log. A channel's configuration (URLs that
//! carry tokens, SMTP passwords) is sealed by the caller before it reaches the store.

use crate::{Page, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelRecord {
    pub id: i64,
    pub project_id: i64,
    pub name: String,
    /// `webhook`, `slack`, `alertmanager` or `email`.
    pub kind: String,
    /// Alerts below this severity are not sent here.
    pub min_severity: String,
    /// The sealed configuration document.
    pub config: Vec<u8>,
    pub created_ms: i64,
}

/// One attempt to deliver one notification on one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRecord {
    pub seq: i64,
    pub channel_id: i64,
    /// The notification's id (the same on every attempt).
    pub notification: String,
    pub fingerprint: String,
    /// `firing` or `resolved`.
    pub kind: String,
    /// 1 for the first attempt.
    pub attempt: i64,
    /// `delivered`, `failed` (will retry), `gave_up` or `dropped` (queue full).
    pub status: String,
    pub error: Option<String>,
    pub ts_ms: i64,
}

/// Attempts kept per channel; older ones are pruned so a failing channel cannot fill the disk.
pub const DELIVERIES_KEPT_PER_CHANNEL: i64 = 10_000;

pub trait ChannelStore {
    /// `Conflict` if the project already has a channel of that name. The record's id is ignored.
    fn create_channel(&self, channel: &ChannelRecord) -> Result<ChannelRecord>;
    fn get_channel(&self, id: i64) -> Result<Option<ChannelRecord>>;
    /// Channels ordered by id; only those of `projects` when given.
    /// Channels by id.
    fn list_channels(&self, projects: Option<&[i64]>, page: &Page<i64>) -> Result<Vec<ChannelRecord>>;
    /// Deletes a channel; whether it existed. Its delivery log stays.
    fn delete_channel(&self, id: i64) -> Result<bool>;
    /// Appends an attempt to the delivery log. The record's seq is ignored.
    fn record_delivery(&self, delivery: &DeliveryRecord) -> Result<()>;
    /// The newest `limit` attempts on a channel, newest first.
    fn deliveries(&self, channel_id: i64, limit: usize) -> Result<Vec<DeliveryRecord>>;
}
