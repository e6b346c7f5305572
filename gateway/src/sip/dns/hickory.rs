//! [`DnsResolver`] over `hickory-resolver` (system configuration, or given name servers).

use std::net::{IpAddr, SocketAddr};

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::NetError;
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};

use super::{DnsError, DnsResolver, LookupFailure, NaptrRecord, SrvRecord};

/// The production resolver.
#[derive(Clone)]
pub struct HickoryDns {
    resolver: TokioResolver,
}

impl HickoryDns {
    /// Uses the system configuration (`/etc/resolv.conf`).
    pub fn from_system() -> Result<Self, DnsError> {
        let resolver = TokioResolver::builder_tokio()
            .map_err(|_| DnsError::Config)?
            .build()
            .map_err(|_| DnsError::Config)?;
        Ok(HickoryDns { resolver })
    }

    /// Uses the given name servers (UDP and TCP, each on its own port), nothing from the system.
    pub fn with_servers(servers: &[SocketAddr]) -> Result<Self, DnsError> {
        let mut cfg = ResolverConfig::from_name_servers(Vec::new());
        for s in servers {
            let mut ns = NameServerConfig::udp_and_tcp(s.ip());
            for c in &mut ns.connections {
                c.port = s.port();
            }
            cfg.add_name_server(ns);
        }
        let mut b = TokioResolver::builder_with_config(cfg, TokioRuntimeProvider::default());
        b.options_mut().attempts = 1;
        let resolver = b.build().map_err(|_| DnsError::Config)?;
        Ok(HickoryDns { resolver })
    }
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn strip_dot(name: &str) -> String {
    name.trim_end_matches('.').to_string()
}

fn classify(name: &str, e: NetError) -> Result<(), DnsError> {
    if e.is_no_records_found() {
        return Ok(());
    }
    let text = e.to_string().to_ascii_lowercase();
    let kind = if text.contains("timed out") || text.contains("timeout") {
        LookupFailure::Timeout
    } else if text.contains("servfail") || text.contains("server failure") {
        LookupFailure::ServerFailure
    } else {
        LookupFailure::Other
    };
    Err(DnsError::LookupFailed {
        name: name.to_string(),
        kind,
    })
}

impl DnsResolver for HickoryDns {
    async fn naptr(&self, name: &str) -> Result<Vec<NaptrRecord>, DnsError> {
        match self.resolver.lookup(fqdn(name), RecordType::NAPTR).await {
            Ok(l) => Ok(l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::NAPTR(n) => Some(NaptrRecord {
                        order: n.order,
                        preference: n.preference,
                        flags: String::from_utf8_lossy(&n.flags).into_owned(),
                        services: String::from_utf8_lossy(&n.services).into_owned(),
                        replacement: strip_dot(&n.replacement.to_ascii()),
                    }),
                    _ => None,
                })
                .collect()),
            Err(e) => classify(name, e).map(|_| Vec::new()),
        }
    }

    async fn srv(&self, name: &str) -> Result<Vec<SrvRecord>, DnsError> {
        match self.resolver.lookup(fqdn(name), RecordType::SRV).await {
            Ok(l) => Ok(l
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::SRV(s) => Some(SrvRecord {
                        priority: s.priority,
                        weight: s.weight,
                        port: s.port,
                        target: strip_dot(&s.target.to_ascii()),
                    }),
                    _ => None,
                })
                .collect()),
            Err(e) => classify(name, e).map(|_| Vec::new()),
        }
    }

    async fn ip(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        match self.resolver.lookup_ip(fqdn(name)).await {
            Ok(l) => Ok(l.iter().collect()),
            Err(e) => classify(name, e).map(|_| Vec::new()),
        }
    }
}
