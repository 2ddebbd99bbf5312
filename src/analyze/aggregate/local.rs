//! Aggregations computed here, with polars, over any event stream (NDJSON files, PostgreSQL,
//! or ClickHouse rows pulled over the wire). The events are reduced to their [`Fact`] columns
//! as they stream by, so memory holds columns, not events.

use polars::prelude::*;

use super::{AggregateError, Bucket, Cell, Fact, Query, Table};
use crate::range::TimeRange;
use crate::sources::EventStream;

/// The facts of a stream of events, as columns.
#[derive(Debug, Default)]
pub struct Facts {
    time: Vec<i64>,
    hour: Vec<i64>,
    day: Vec<i64>,
    actor: Vec<String>,
    event_name: Vec<String>,
    ip: Vec<String>,
    session: Vec<String>,
    flow_type: Vec<String>,
    outcome: Vec<&'static str>,
    input_tokens: Vec<u64>,
    output_tokens: Vec<u64>,
    project: Vec<String>,
}

impl Facts {
    pub fn push(&mut self, f: Fact) {
        self.time.push(f.time);
        self.hour.push(Bucket::Hour.start(f.time));
        self.day.push(Bucket::Day.start(f.time));
        self.actor.push(f.actor);
        self.event_name.push(f.event_name);
        self.ip.push(f.ip);
        self.session.push(f.session);
        self.flow_type.push(f.flow_type);
        self.outcome.push(f.outcome);
        self.input_tokens.push(f.input_tokens);
        self.output_tokens.push(f.output_tokens);
        self.project.push(f.project);
    }

    /// Read the events of a stream within `range` (a record that fails to read stops it).
    pub fn from_stream(stream: EventStream, range: &TimeRange) -> Result<Facts, AggregateError> {
        let mut facts = Facts::default();
        for rec in stream {
            let rec = rec?;
            if range.contains(&rec.event.time) {
                facts.push(Fact::of(&rec.event));
            }
        }
        Ok(facts)
    }

    pub fn len(&self) -> usize {
        self.time.len()
    }

    pub fn is_empty(&self) -> bool {
        self.time.is_empty()
    }

    fn frame(self) -> PolarsResult<DataFrame> {
        DataFrame::new(
            self.time.len(),
            vec![
                Column::new("time".into(), self.time),
                Column::new("hour".into(), self.hour),
                Column::new("day".into(), self.day),
                Column::new("actor".into(), self.actor),
                Column::new("event_name".into(), self.event_name),
                Column::new("ip".into(), self.ip),
                Column::new("session".into(), self.session),
                Column::new("flow_type".into(), self.flow_type),
                Column::new("outcome".into(), self.outcome),
                Column::new("input_tokens".into(), self.input_tokens),
                Column::new("output_tokens".into(), self.output_tokens),
                Column::new("project".into(), self.project),
            ],
        )
    }
}

fn bucket_col(b: Bucket) -> Expr {
    col(match b {
        Bucket::Hour => "hour",
        Bucket::Day => "day",
    })
}

/// The polars plan of a query; its output columns are [`Query::columns`], in order.
fn plan(df: LazyFrame, q: Query) -> LazyFrame {
    let nonempty = |c: &str| col(c).neq(lit(""));
    let tokens = || col("input_tokens").gt(lit(0u64)).or(col("output_tokens").gt(lit(0u64)));
    let sums = || [col("input_tokens").sum(), col("output_tokens").sum()];
    match q {
        Query::CountByActor(b) => df.group_by([col("actor"), bucket_col(b)]).agg([len().alias("count")]).select([
            col("actor"),
            bucket_col(b).alias("bucket"),
            col("count"),
        ]),
        Query::CountByEventName => df.group_by([col("event_name")]).agg([len().alias("count")]),
        Query::CountByFlow => {
            df.filter(nonempty("flow_type")).group_by([col("flow_type"), col("outcome")]).agg([len().alias("count")])
        }
        Query::TokensByActor => df.filter(tokens()).group_by([col("actor")]).agg(sums()),
        Query::TokensBySession => df.filter(tokens().and(nonempty("session"))).group_by([col("session")]).agg(sums()),
        Query::FirstSeen(a) => df
            .filter(nonempty(a.column()))
            .group_by([col("actor"), col(a.column()).alias("value")])
            .agg([col("time").min().alias("first_time")]),
        Query::DistinctIpsByActor => {
            df.filter(nonempty("ip")).group_by([col("actor")]).agg([col("ip").n_unique().alias("distinct_ips")])
        }
        Query::Timeline(b) => df
            .group_by([bucket_col(b)])
            .agg([len().alias("count")])
            .select([bucket_col(b).alias("bucket"), col("count")]),
    }
}

fn cells(df: &DataFrame) -> PolarsResult<Vec<Vec<Cell>>> {
    let mut rows = vec![Vec::with_capacity(df.width()); df.height()];
    for column in df.columns() {
        if column.dtype() == &DataType::String {
            let text = column.str()?;
            for (i, row) in rows.iter_mut().enumerate() {
                row.push(Cell::Text(text.get(i).unwrap_or("").to_string()));
            }
        } else {
            let ints = column.cast(&DataType::Int64)?;
            let ints = ints.i64()?;
            for (i, row) in rows.iter_mut().enumerate() {
                row.push(Cell::Int(ints.get(i).unwrap_or(0)));
            }
        }
    }
    Ok(rows)
}

/// Answer `queries` over `facts`.
pub fn aggregate(facts: Facts, queries: &[Query], range: &TimeRange) -> Result<Vec<Table>, AggregateError> {
    let engine = |e: PolarsError| AggregateError::Engine(e.to_string());
    let df = facts.frame().map_err(engine)?;
    queries
        .iter()
        .map(|q| {
            let out = plan(df.clone().lazy(), *q).collect().map_err(engine)?;
            Ok(Table::new(*q, cells(&out).map_err(engine)?, range))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(time: i64, actor: &str, ip: &str, tokens: u64) -> Fact {
        Fact {
            time,
            actor: actor.into(),
            event_name: "duo_flow_token_usage".into(),
            ip: ip.into(),
            session: "s1".into(),
            flow_type: "fix".into(),
            outcome: "success",
            input_tokens: tokens,
            output_tokens: 1,
            project: "7".into(),
        }
    }

    #[test]
    fn counts_sums_firsts_and_distincts() {
        let h = Bucket::Hour.micros();
        let mut facts = Facts::default();
        facts.push(fact(5, "a", "10.0.0.1", 10));
        facts.push(fact(h + 7, "a", "10.0.0.2", 20));
        facts.push(fact(h + 1, "b", "", 0));
        facts.push(fact(2, "a", "10.0.0.1", 0));
        let queries = [
            Query::CountByActor(Bucket::Hour),
            Query::TokensByActor,
            Query::FirstSeen(super::super::Attribute::Ip),
            Query::DistinctIpsByActor,
            Query::Timeline(Bucket::Hour),
        ];
        let t = aggregate(facts, &queries, &TimeRange::default()).unwrap();
        let (i, s) = (Cell::Int, |x: &str| Cell::Text(x.into()));
        assert_eq!(t[0].rows, vec![vec![s("a"), i(0), i(2)], vec![s("a"), i(h), i(1)], vec![s("b"), i(h), i(1)]]);
        assert_eq!(t[1].rows, vec![vec![s("a"), i(30), i(3)], vec![s("b"), i(0), i(1)]]);
        assert_eq!(t[2].rows, vec![vec![s("a"), s("10.0.0.1"), i(2)], vec![s("a"), s("10.0.0.2"), i(h + 7)]]);
        assert_eq!(t[3].rows, vec![vec![s("a"), i(2)]]);
        assert_eq!(t[4].rows, vec![vec![i(0), i(2)], vec![i(h), i(2)]]);
        assert_eq!(t[0].columns, ["actor", "bucket", "count"]);
    }
}
