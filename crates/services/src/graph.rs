//! The dependency graph between services: the order they come back in,
//! and the cycles that would make any order impossible.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::ServiceConfig;

/// Services and what each waits for, checked to have no cycle and no
/// dependency on an unknown service.
#[derive(Debug, Clone)]
pub struct Graph {
    /// Each service's dependencies (all known services).
    depends_on: BTreeMap<String, BTreeSet<String>>,
}

/// Why the services cannot be ordered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("service {service} depends on {missing}, which is not a service of the configuration")]
    Unknown { service: String, missing: String },
    #[error("the services depend on each other in a cycle: {}", .0.join(" -> "))]
    Cycle(Vec<String>),
}

impl Graph {
    /// Builds the graph of `services`, refusing unknown dependencies and
    /// cycles (the cycle is named, first service repeated at the end).
    pub fn new(services: &BTreeMap<String, ServiceConfig>) -> Result<Graph, GraphError> {
        let mut depends_on = BTreeMap::new();
        for (name, service) in services {
            for dep in &service.depends_on {
                if !services.contains_key(dep) {
                    return Err(GraphError::Unknown {
                        service: name.clone(),
                        missing: dep.clone(),
                    });
                }
            }
            depends_on.insert(name.clone(), service.depends_on.iter().cloned().collect());
        }
        let graph = Graph { depends_on };
        match graph.find_cycle() {
            Some(cycle) => Err(GraphError::Cycle(cycle)),
            None => Ok(graph),
        }
    }

    /// The services `service` waits for directly.
    pub fn dependencies(&self, service: &str) -> impl Iterator<Item = &String> {
        self.depends_on.get(service).into_iter().flatten()
    }

    /// Every service, by name.
    pub fn services(&self) -> impl Iterator<Item = &String> {
        self.depends_on.keys()
    }

    /// `roots` and everything they depend on, transitively: what must come
    /// back for them to work.
    pub fn closure<'a>(&self, roots: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut stack: Vec<String> = roots.into_iter().map(str::to_owned).collect();
        while let Some(name) = stack.pop() {
            if seen.insert(name.clone()) {
                stack.extend(self.dependencies(&name).cloned());
            }
        }
        seen
    }

    /// A cycle, if there is one, by depth-first search with colours.
    fn find_cycle(&self) -> Option<Vec<String>> {
        let mut done = BTreeSet::new();
        for start in self.depends_on.keys() {
            let mut path = Vec::new();
            if let Some(cycle) = self.visit(start, &mut path, &mut done) {
                return Some(cycle);
            }
        }
        None
    }

    fn visit(
        &self,
        name: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if done.contains(name) {
            return None;
        }
        if let Some(at) = path.iter().position(|p| p == name) {
            let mut cycle: Vec<String> = path.get(at..).unwrap_or_default().to_vec();
            cycle.push(name.to_owned());
            return Some(cycle);
        }
        path.push(name.to_owned());
        for dep in self.dependencies(name) {
            if let Some(cycle) = self.visit(dep, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(name.to_owned());
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn services(edges: &[(&str, &[&str])]) -> BTreeMap<String, ServiceConfig> {
        edges
            .iter()
            .map(|(name, deps)| {
                let service = ServiceConfig {
                    public_name: name.to_string(),
                    priority: 100,
                    depends_on: deps.iter().map(|d| d.to_string()).collect(),
                    sources: Vec::new(),
                    health: Vec::new(),
                    target: None,
                    public: true,
                };
                (name.to_string(), service)
            })
            .collect()
    }

    #[test]
    fn a_cycle_is_named_from_its_first_service_back_to_it() {
        let s = services(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"]), ("d", &[])]);
        let err = Graph::new(&s).unwrap_err();
        assert_eq!(
            err,
            GraphError::Cycle(vec!["a".into(), "b".into(), "c".into(), "a".into()])
        );
    }

    #[test]
    fn a_dependency_on_an_unknown_service_is_refused() {
        let s = services(&[("a", &["ghost"])]);
        assert!(
            matches!(Graph::new(&s), Err(GraphError::Unknown { missing, .. }) if missing == "ghost")
        );
    }

    #[test]
    fn the_closure_holds_every_transitive_dependency_and_nothing_else() {
        let s = services(&[
            ("web", &["db"]),
            ("db", &["net"]),
            ("net", &[]),
            ("other", &[]),
        ]);
        let g = Graph::new(&s).unwrap();
        let c: Vec<String> = g.closure(["web"]).into_iter().collect();
        assert_eq!(c, ["db", "net", "web"]);
    }
}
