//! Shared pieces of the NAT tests: the STUN responder and the SIP edge learning its mapping.
#![allow(dead_code)]

pub mod responder;

use std::net::SocketAddr;

use gateway::nat::edge::SipNat;
use gateway::sip::transport::{EdgeConfig, SipEdge};

/// What the SIP edge (UDP on 127.0.0.1) learns of its mapping from the STUN server `server`,
/// as gatewayd starts it: (mapping, advertised address, local address).
pub fn sip_edge_mapping(server: SocketAddr) -> (Option<SocketAddr>, SocketAddr, SocketAddr) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let (edge, _inbound) = SipEdge::bind(EdgeConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            tcp: false,
            ..EdgeConfig::default()
        })
        .await
        .unwrap();
        let local = edge.udp_local_addr();
        let cfg = gateway::config::model::Nat {
            stun_server: server.to_string(),
            ..Default::default()
        };
        let nat = SipNat::start(&cfg, &edge, local).await;
        edge.shutdown();
        (nat.mapped(), nat.advertised(), local)
    })
}
