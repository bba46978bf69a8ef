pub mod accounts;
pub mod conversations;
pub mod live;
pub mod messages;
pub mod ops;
pub mod server_api;
pub mod web;
pub mod ws;
