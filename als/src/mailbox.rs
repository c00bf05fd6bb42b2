//! Rounds of all-to-all messages between timely workers.
//!
//! ALS is a bulk-synchronous algorithm: every half-step each block sends what others need,
//! waits until everything addressed to it has arrived, then computes alone. A [`Mailbox`] is
//! one small timely dataflow (input -> exchange by destination -> inbox) driven one epoch per
//! round, so every byte between processes goes through timely's own channels.

use std::cell::RefCell;
use std::rc::Rc;

use serde::{Deserialize, Serialize};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::Probe;
use timely::dataflow::{InputHandleVec, ProbeHandle};
use timely::worker::Worker;

/// The most f32 values in one message: large factor blocks are cut into pieces so that no
/// single serialised buffer grows without bound.
pub const MAX_VALUES: usize = 1 << 20;

/// What travels between blocks.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub enum Body {
    /// Interaction triples on their way to the block that owns the row: (row, column, value).
    Triples(Vec<(u32, u32, f32)>),
    /// Pairs (row, column) for structures that carry no value.
    Pairs(Vec<(u32, u32)>),
    /// Factor rows in the order both sides agreed on; `seq` orders the pieces of one send.
    Rows { seq: u32, values: Vec<f32> },
    /// Rows named by global index (for gathers where the receiver has no plan).
    Indexed { rows: Vec<u32>, values: Vec<f32> },
    /// A vector to be summed over all blocks, in block order.
    Sum(Vec<f64>),
    /// Candidates of a top-K: (user, score, item) triples.
    Candidates(Vec<(u32, f32, u32)>),
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Envelope {
    pub to: u32,
    pub from: u32,
    pub body: Body,
}

/// One timely worker's end of the all-to-all rounds.
pub struct Mailbox {
    input: InputHandleVec<u64, Envelope>,
    probe: ProbeHandle<u64>,
    inbox: Rc<RefCell<Vec<(u64, Envelope)>>>,
    epoch: u64,
    index: u32,
    peers: u32,
}

impl Mailbox {
    /// Builds the dataflow on `worker`; every worker of the computation must do the same, in
    /// the same order relative to its other dataflows.
    pub fn new(worker: &mut Worker) -> Mailbox {
        let mut input: InputHandleVec<u64, Envelope> = InputHandleVec::new();
        let probe = ProbeHandle::new();
        let inbox: Rc<RefCell<Vec<(u64, Envelope)>>> = Rc::new(RefCell::new(Vec::new()));
        let sink = inbox.clone();
        worker.dataflow::<u64, _, _>(|scope| {
            input
                .to_stream(scope)
                .unary::<CapacityContainerBuilder<Vec<()>>, _, _, _>(
                    Exchange::new(|e: &Envelope| u64::from(e.to)),
                    "Inbox",
                    move |_cap, _info| {
                        move |input, _output| {
                            input.for_each(|cap, data| {
                                let t = cap.least().copied().unwrap_or(0);
                                sink.borrow_mut().extend(data.drain(..).map(|e| (t, e)));
                            });
                        }
                    },
                )
                .probe_with(&probe);
        });
        Mailbox {
            input,
            probe,
            inbox,
            epoch: 0,
            index: worker.index() as u32,
            peers: worker.peers() as u32,
        }
    }

    pub fn index(&self) -> u32 {
        self.index
    }

    pub fn peers(&self) -> u32 {
        self.peers
    }

    /// Sends `outgoing`, waits until every worker's messages of this round have arrived, and
    /// returns the ones addressed here, ordered by sender and then by send order.
    pub fn round(&mut self, worker: &mut Worker, outgoing: Vec<Envelope>) -> Vec<Envelope> {
        for mut e in outgoing {
            e.from = self.index;
            self.input.send(e);
        }
        let epoch = self.epoch;
        self.epoch += 1;
        self.input.advance_to(self.epoch);
        let probe = &self.probe;
        worker.step_while(|| probe.less_equal(&epoch));
        // Faster peers may already have sent the next round's messages: keep those.
        let mut inbox = self.inbox.borrow_mut();
        let mut mine = Vec::new();
        let mut later = Vec::new();
        for (t, e) in inbox.drain(..) {
            if t == epoch {
                mine.push(e);
            } else {
                later.push((t, e));
            }
        }
        *inbox = later;
        // Stable: messages from one sender keep the order they were sent in.
        mine.sort_by_key(|e| e.from);
        mine
    }

    /// `v` summed over all workers, adding the parts in worker order so every worker gets
    /// the same bits.
    pub fn all_sum(&mut self, worker: &mut Worker, v: Vec<f64>) -> Vec<f64> {
        let len = v.len();
        let out = (0..self.peers)
            .map(|to| Envelope {
                to,
                from: 0,
                body: Body::Sum(v.clone()),
            })
            .collect();
        let mut total = vec![0.0; len];
        for e in self.round(worker, out) {
            if let Body::Sum(part) = e.body {
                for (t, p) in total.iter_mut().zip(&part) {
                    *t += p;
                }
            }
        }
        total
    }
}

/// Cuts `values` (whole rows of `k`) into [`Body::Rows`] pieces addressed to `to`.
pub fn rows_to(to: u32, values: &[f32], k: usize) -> Vec<Envelope> {
    let per = (MAX_VALUES / k.max(1)).max(1) * k.max(1);
    if values.is_empty() {
        return Vec::new();
    }
    values
        .chunks(per)
        .enumerate()
        .map(|(seq, c)| Envelope {
            to,
            from: 0,
            body: Body::Rows {
                seq: seq as u32,
                values: c.to_vec(),
            },
        })
        .collect()
}
