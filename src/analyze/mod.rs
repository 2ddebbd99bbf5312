//! Analysis over events: aggregations that run where the data is ([`aggregate`]).

pub mod aggregate;
pub mod anomalies;
pub mod sessions;
