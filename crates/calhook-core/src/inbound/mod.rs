//! What Cal.com sent, from bytes to an identified event: is it really from
//! Cal.com ([`signature`]), what does it say ([`event`]), is it recent enough
//! ([`freshness`]), what exactly did it send ([`digest`]), which
//! deliveries are one event ([`identity`]), and which payload version ([`version`]).

pub mod digest;
pub mod event;
pub mod freshness;
pub mod identity;
pub mod signature;
pub mod version;
