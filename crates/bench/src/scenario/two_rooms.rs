//! The layout `idle` and `storm` share: N members, each in two rooms of G. Member i is in
//! `a{i / G}` and in `b{i mod M}` (M = ⌈N / G⌉ rooms per family), so every room has at most G
//! members and every member is in exactly two. For Chinwag the rooms are group conversations
//! created over REST; peers get the room names in the upgrade URL.

use std::time::Instant;

use serde::Serialize;

use crate::setup::{self, Common};
use crate::target::Target;

/// The layout's size on the command line.
#[derive(Debug, Clone, Copy, clap::Args, Serialize)]
pub struct LayoutArgs {
    #[arg(long, default_value_t = 10_000)]
    pub connections: usize,
    #[arg(long, default_value_t = 10)]
    pub group_size: usize,
}

impl LayoutArgs {
    pub(crate) fn rooms(&self) -> TwoRooms {
        TwoRooms::new(self.connections, self.group_size)
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct TwoRooms {
    /// Members (at least one).
    pub n: usize,
    /// Members per room.
    pub g: usize,
    /// Rooms per family (`a` and `b`).
    pub per_family: usize,
}

impl TwoRooms {
    pub(crate) fn new(connections: usize, group_size: usize) -> Self {
        let n = connections.max(1);
        let g = group_size.clamp(1, n);
        TwoRooms { n, g, per_family: n.div_ceil(g) }
    }

    /// The upgrade path of member `i`: its two rooms (peers join them from the URL).
    pub(crate) fn path(&self, target: Target, i: usize) -> String {
        target.path(&format!("a{},b{}", i / self.g, i % self.per_family))
    }

    /// The rooms as groups `(owner, other members)`, in the order `a0, b0, a1, b1, …`.
    pub(crate) fn groups(&self, users: &[String]) -> Vec<(String, Vec<String>)> {
        let mut groups = Vec::with_capacity(2 * self.per_family);
        for k in 0..self.per_family {
            let a: Vec<String> = users.iter().skip(k * self.g).take(self.g).cloned().collect();
            let b: Vec<String> = users.iter().skip(k).step_by(self.per_family).cloned().collect();
            for family in [a, b] {
                let (owner, rest) = family.split_first().expect("non-empty room");
                groups.push((owner.clone(), rest.to_vec()));
            }
        }
        groups
    }

    /// Where member `i`'s two rooms stand in [`groups`](Self::groups): `(a, b)`.
    pub(crate) fn rooms_of(&self, i: usize) -> (usize, usize) {
        (2 * (i / self.g), 2 * (i % self.per_family) + 1)
    }

    /// Chinwag: create the rooms over REST, `concurrency` at a time, and say how long it took
    /// (as `{scenario} {label}: created …`). Returns each room's id and owner, in
    /// [`groups`](Self::groups) order.
    pub(crate) async fn create(
        &self,
        common: &Common,
        users: &[String],
        concurrency: usize,
        scenario: &str,
    ) -> anyhow::Result<Vec<(String, String)>> {
        let groups = self.groups(users);
        let owners: Vec<String> = groups.iter().map(|(owner, _)| owner.clone()).collect();
        let started = Instant::now();
        let ids =
            setup::create_groups(common.addr, &common.token_secret, groups, concurrency).await?;
        eprintln!(
            "{scenario} {}: created {} conversations in {:.1} s",
            common.label(),
            ids.len(),
            started.elapsed().as_secs_f64()
        );
        Ok(ids.into_iter().zip(owners).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_member_is_in_two_rooms_of_at_most_g() {
        let layout = TwoRooms::new(7, 3);
        let users: Vec<String> = (0..7).map(|i| format!("u{i}")).collect();
        let groups = layout.groups(&users);
        assert_eq!(groups.len(), 6);
        for (i, user) in users.iter().enumerate() {
            let (a, b) = layout.rooms_of(i);
            for room in [a, b] {
                let (owner, rest) = &groups[room];
                assert!(owner == user || rest.contains(user), "{user} in room {room}");
                assert!(rest.len() < 3);
            }
        }
        assert_eq!(layout.path(Target::Ws, 4), Target::Ws.path("a1,b1"));
    }
}
