//! The link table: which endpoints hear which. A link is two-way; an endpoint with several
//! links hears the sum of the others (conference), so local calls, port-to-stream calls and
//! stream-to-stream transcoding bridges are all the same mechanism.

use heapless::Vec as HVec;

use super::api::Endpoint;

/// Links held at most (two per port plus a few bridges is the realistic load).
pub const MAX_LINKS: usize = 32;

#[derive(Debug, Default, Clone)]
pub struct Links {
    links: HVec<(Endpoint, Endpoint), MAX_LINKS>,
}

impl Links {
    /// Adds a link; `false` when the table is full. Linking an endpoint to itself is refused.
    pub fn connect(&mut self, a: Endpoint, b: Endpoint) -> bool {
        if a == b {
            return false;
        }
        if self.linked(a, b) {
            return true;
        }
        self.links.push((a, b)).is_ok()
    }

    pub fn linked(&self, a: Endpoint, b: Endpoint) -> bool {
        self.links
            .iter()
            .any(|&(x, y)| (x == a && y == b) || (x == b && y == a))
    }

    pub fn disconnect(&mut self, a: Endpoint, b: Endpoint) {
        self.links
            .retain(|&(x, y)| !((x == a && y == b) || (x == b && y == a)));
    }

    pub fn isolate(&mut self, e: Endpoint) {
        self.links.retain(|&(x, y)| x != e && y != e);
    }

    /// Endpoints `e` hears.
    pub fn peers(&self, e: Endpoint) -> impl Iterator<Item = Endpoint> + '_ {
        self.links.iter().filter_map(move |&(x, y)| {
            if x == e {
                Some(y)
            } else if y == e {
                Some(x)
            } else {
                None
            }
        })
    }

    pub fn has_peers(&self, e: Endpoint) -> bool {
        self.peers(e).next().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::api::StreamId;

    #[test]
    fn two_way_links() {
        let mut l = Links::default();
        let (p, s, t) = (
            Endpoint::Port(0),
            Endpoint::Stream(StreamId(1)),
            Endpoint::Stream(StreamId(2)),
        );
        assert!(l.connect(p, s));
        assert!(l.connect(s, p));
        assert!(l.connect(p, t));
        assert!(!l.connect(p, p));
        assert_eq!(l.peers(p).count(), 2);
        assert_eq!(l.peers(s).collect::<Vec<_>>(), vec![p]);
        l.disconnect(s, p);
        assert!(!l.linked(p, s));
        l.isolate(t);
        assert!(!l.has_peers(p));
    }
}
