//! From one queued notification to its emails (and how notifications are
//! grouped for the queue, [`batches`]): who gets which copy
//! ([`recipients`]), SendGrid's request and what its answer means
//! ([`sendgrid`]), when to try again ([`retry`]), which queue a batch came
//! from ([`queues`]), and the copies' outcomes folded into ack, retry or
//! dead letter ([`fold`]).

pub mod batches;
pub mod fold;
pub mod queues;
pub mod recipients;
pub mod retry;
pub mod sendgrid;
