//! The pipeline: a directed acyclic graph of environments whose edges are
//! promotion paths, on a main lane and an optional hotfix lane.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use petgraph::Direction;
use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;
use serde::{Deserialize, Serialize};

use super::environment::{Environment, EnvironmentRole};
use super::ids::EnvironmentId;

/// Which lane a promotion path belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Lane {
    /// The normal path from development to production.
    Main,
    /// The emergency path from hotfix-development to production.
    Hotfix,
}

impl fmt::Display for Lane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Main => "main",
            Self::Hotfix => "hotfix",
        })
    }
}

/// One promotion path: an artifact verified in `from` may enter `to`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Promotion {
    /// The upstream environment.
    pub from: EnvironmentId,
    /// The downstream environment.
    pub to: EnvironmentId,
    /// The lane the path belongs to.
    #[serde(default = "main_lane")]
    pub lane: Lane,
}

fn main_lane() -> Lane {
    Lane::Main
}

/// The plain-data description of a pipeline, as written in a file or built
/// in code. [`PipelineSpec::build`] validates it into a [`Pipeline`].
///
/// ```
/// use knowngood::{EnvironmentRole, PipelineSpec};
/// let pipeline = PipelineSpec::new()
///     .environment("dev", EnvironmentRole::Development)
///     .environment("qa", EnvironmentRole::Test)
///     .environment("prod", EnvironmentRole::Production)
///     .promote("dev", "qa")
///     .promote("qa", "prod")
///     .build()
///     .unwrap();
/// assert_eq!(pipeline.production().count(), 1);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PipelineSpec {
    /// The environments, in the order given.
    pub environments: Vec<Environment>,
    /// The promotion paths.
    #[serde(default)]
    pub promotions: Vec<Promotion>,
}

impl PipelineSpec {
    /// An empty spec.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an environment.
    #[must_use]
    pub fn environment(mut self, id: impl Into<EnvironmentId>, role: EnvironmentRole) -> Self {
        self.environments.push(Environment::new(id, role));
        self
    }

    /// Adds a main-lane promotion path.
    #[must_use]
    pub fn promote(self, from: impl Into<EnvironmentId>, to: impl Into<EnvironmentId>) -> Self {
        self.path(from, to, Lane::Main)
    }

    /// Adds a hotfix-lane promotion path.
    #[must_use]
    pub fn hotfix_promote(
        self,
        from: impl Into<EnvironmentId>,
        to: impl Into<EnvironmentId>,
    ) -> Self {
        self.path(from, to, Lane::Hotfix)
    }

    /// Adds a promotion path on the given lane.
    #[must_use]
    pub fn path(
        mut self,
        from: impl Into<EnvironmentId>,
        to: impl Into<EnvironmentId>,
        lane: Lane,
    ) -> Self {
        self.promotions.push(Promotion {
            from: from.into(),
            to: to.into(),
            lane,
        });
        self
    }

    /// Validates the spec into a [`Pipeline`].
    pub fn build(self) -> Result<Pipeline, PipelineError> {
        Pipeline::try_from(self)
    }
}

/// Why a pipeline description is not a valid pipeline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum PipelineError {
    /// Two environments share a name.
    #[error("environment `{environment}` is declared twice: give each environment its own name")]
    DuplicateEnvironment {
        /// The repeated name.
        environment: EnvironmentId,
    },
    /// A promotion path names an environment that is not declared.
    #[error(
        "promotion {from} → {to} names unknown environment `{missing}`: declare it or fix the path"
    )]
    UnknownEnvironment {
        /// Upstream end of the path.
        from: EnvironmentId,
        /// Downstream end of the path.
        to: EnvironmentId,
        /// The end that is not declared.
        missing: EnvironmentId,
    },
    /// The same path is declared twice on the same lane.
    #[error("promotion {from} → {to} on the {lane} lane is declared twice: remove one")]
    DuplicatePromotion {
        /// Upstream end of the path.
        from: EnvironmentId,
        /// Downstream end of the path.
        to: EnvironmentId,
        /// The lane.
        lane: Lane,
    },
    /// Promotion paths go round in a circle.
    #[error("promotion paths form a cycle through {}: a pipeline must only flow forward", list(.environments))]
    Cycle {
        /// The environments on the cycle, sorted by name.
        environments: Vec<EnvironmentId>,
    },
    /// No environment has the production role.
    #[error(
        "the pipeline has no production environment: give at least one environment the `production` role"
    )]
    NoProduction,
    /// A hotfix-lane path stops before reaching production.
    #[error(
        "the hotfix lane stops at `{environment}` ({role}), which is not production: the hotfix lane must end in production"
    )]
    HotfixLaneDeadEnd {
        /// Where the hotfix lane stops.
        environment: EnvironmentId,
        /// That environment's role.
        role: EnvironmentRole,
    },
}

fn list(envs: &[EnvironmentId]) -> String {
    envs.iter()
        .map(|e| format!("`{e}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A validated pipeline: environments joined by promotion paths with no
/// cycle, at least one production environment, and a hotfix lane (if any)
/// that ends in production.
///
/// It serializes as its [`PipelineSpec`] and is validated again when read.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "PipelineSpec", into = "PipelineSpec")]
pub struct Pipeline {
    spec: PipelineSpec,
    graph: DiGraph<EnvironmentId, Lane>,
    nodes: BTreeMap<EnvironmentId, NodeIndex>,
}

impl fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Pipeline {
    fn eq(&self, other: &Self) -> bool {
        self.spec == other.spec
    }
}

impl Eq for Pipeline {}

impl TryFrom<PipelineSpec> for Pipeline {
    type Error = PipelineError;

    fn try_from(spec: PipelineSpec) -> Result<Self, Self::Error> {
        let mut graph = DiGraph::new();
        let mut nodes = BTreeMap::new();
        for env in &spec.environments {
            if nodes.contains_key(&env.id) {
                return Err(PipelineError::DuplicateEnvironment {
                    environment: env.id.clone(),
                });
            }
            nodes.insert(env.id.clone(), graph.add_node(env.id.clone()));
        }
        let mut seen = BTreeSet::new();
        for p in &spec.promotions {
            let node = |id: &EnvironmentId| {
                nodes
                    .get(id)
                    .copied()
                    .ok_or_else(|| PipelineError::UnknownEnvironment {
                        from: p.from.clone(),
                        to: p.to.clone(),
                        missing: id.clone(),
                    })
            };
            let (from, to) = (node(&p.from)?, node(&p.to)?);
            if !seen.insert((from, to, p.lane)) {
                return Err(PipelineError::DuplicatePromotion {
                    from: p.from.clone(),
                    to: p.to.clone(),
                    lane: p.lane,
                });
            }
            graph.add_edge(from, to, p.lane);
        }
        // Both lanes share one graph: a cycle across lanes is still a cycle.
        for component in tarjan_scc(&graph) {
            let looped = component.len() > 1 || graph.contains_edge(component[0], component[0]);
            if looped {
                let mut environments: Vec<_> =
                    component.iter().map(|&n| graph[n].clone()).collect();
                environments.sort();
                return Err(PipelineError::Cycle { environments });
            }
        }
        if !spec.environments.iter().any(Environment::is_production) {
            return Err(PipelineError::NoProduction);
        }
        for env in &spec.environments {
            let n = nodes[&env.id];
            let on_lane = |dir| {
                graph
                    .edges_directed(n, dir)
                    .any(|e| *e.weight() == Lane::Hotfix)
            };
            if on_lane(Direction::Incoming) && !on_lane(Direction::Outgoing) && !env.is_production()
            {
                return Err(PipelineError::HotfixLaneDeadEnd {
                    environment: env.id.clone(),
                    role: env.role,
                });
            }
        }
        Ok(Self { spec, graph, nodes })
    }
}

impl From<Pipeline> for PipelineSpec {
    fn from(p: Pipeline) -> Self {
        p.spec
    }
}

impl Pipeline {
    /// The description this pipeline was built from.
    pub fn spec(&self) -> &PipelineSpec {
        &self.spec
    }

    /// Every environment, in declaration order.
    pub fn environments(&self) -> impl Iterator<Item = &Environment> {
        self.spec.environments.iter()
    }

    /// The environment with this name, if declared.
    pub fn environment(&self, id: &EnvironmentId) -> Option<&Environment> {
        self.spec.environments.iter().find(|e| &e.id == id)
    }

    /// Whether an environment with this name is declared.
    pub fn contains(&self, id: &EnvironmentId) -> bool {
        self.nodes.contains_key(id)
    }

    /// The production environments, in declaration order.
    pub fn production(&self) -> impl Iterator<Item = &Environment> {
        self.environments().filter(|e| e.is_production())
    }

    /// Whether any promotion path is on the hotfix lane.
    pub fn has_hotfix_lane(&self) -> bool {
        self.graph.edge_weights().any(|l| *l == Lane::Hotfix)
    }

    /// The environments an artifact must be verified in before entering
    /// `env` along `lane`, sorted by name. Empty for an unknown environment
    /// or one with no path into it on that lane.
    pub fn predecessors(&self, env: &EnvironmentId, lane: Lane) -> Vec<&EnvironmentId> {
        let Some(&n) = self.nodes.get(env) else {
            return Vec::new();
        };
        let mut preds: Vec<_> = self
            .graph
            .edges_directed(n, Direction::Incoming)
            .filter(|e| *e.weight() == lane)
            .map(|e| &self.graph[e.source()])
            .collect();
        preds.sort();
        preds.dedup();
        preds
    }

    /// The environments an artifact passes along `lane` to reach `target`,
    /// upstream first, `target` last (each once, whatever the number of
    /// paths: the walk is linear in the pipeline's size). The driver ships
    /// along this path and the dry run rehearses it.
    ///
    /// ```
    /// use knowngood::{EnvironmentRole, Lane, PipelineSpec};
    /// let p = PipelineSpec::new()
    ///     .environment("dev", EnvironmentRole::Development)
    ///     .environment("qa", EnvironmentRole::Test)
    ///     .environment("prod", EnvironmentRole::Production)
    ///     .promote("dev", "qa")
    ///     .promote("qa", "prod")
    ///     .build()
    ///     .unwrap();
    /// let path: Vec<String> = p.lane_path(&"prod".into(), Lane::Main).iter().map(ToString::to_string).collect();
    /// assert_eq!(path, ["dev", "qa", "prod"]);
    /// ```
    pub fn lane_path<'a>(&'a self, target: &'a EnvironmentId, lane: Lane) -> Vec<EnvironmentId> {
        // Depth-first post-order with an explicit stack: upstream first.
        let mut out: Vec<EnvironmentId> = Vec::new();
        let mut seen: std::collections::BTreeSet<&EnvironmentId> =
            std::collections::BTreeSet::new();
        let mut stack: Vec<(&EnvironmentId, bool)> = vec![(target, false)];
        while let Some((env, expanded)) = stack.pop() {
            if expanded {
                out.push(env.clone());
                continue;
            }
            if !seen.insert(env) {
                continue;
            }
            stack.push((env, true));
            for pred in self.predecessors(env, lane).into_iter().rev() {
                if !seen.contains(pred) {
                    stack.push((pred, false));
                }
            }
        }
        out
    }

    /// Every environment a release passes along `lane` into production,
    /// upstream first: the production environments the lane leads into,
    /// nearest first (a production environment fed by another is a later
    /// wave: `prod-eu`, bake, then `prod-us`), each after the stages before
    /// it. What [`Driver::deliver`](crate::driver::Driver::deliver) walks.
    ///
    /// ```
    /// use knowngood::{EnvironmentRole, Lane, PipelineSpec};
    /// let p = PipelineSpec::new()
    ///     .environment("qa", EnvironmentRole::Test)
    ///     .environment("prod-eu", EnvironmentRole::Production)
    ///     .environment("prod-us", EnvironmentRole::Production)
    ///     .promote("qa", "prod-eu")
    ///     .promote("prod-eu", "prod-us")
    ///     .build()
    ///     .unwrap();
    /// let path: Vec<String> = p.delivery_path(Lane::Main).iter().map(ToString::to_string).collect();
    /// assert_eq!(path, ["qa", "prod-eu", "prod-us"]);
    /// ```
    pub fn delivery_path(&self, lane: Lane) -> Vec<EnvironmentId> {
        let mut paths: Vec<Vec<EnvironmentId>> = self
            .environments()
            .filter(|e| e.is_production() && !self.predecessors(&e.id, lane).is_empty())
            .map(|e| self.lane_path(&e.id, lane))
            .collect();
        paths.sort_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.last().cmp(&b.last())));
        let mut out: Vec<EnvironmentId> = Vec::new();
        for env in paths.into_iter().flatten() {
            if !out.contains(&env) {
                out.push(env);
            }
        }
        out
    }

    /// The environments a release is deployed to and verified in on its
    /// way into `target` along `lane`, upstream first and `target` last:
    /// the lane's whole path, or without the stages a fast-track skips.
    pub fn ship_path(
        &self,
        target: &EnvironmentId,
        lane: Lane,
        fast_track: bool,
    ) -> Vec<EnvironmentId> {
        let skips = if fast_track {
            self.fast_track_skips(target, lane)
        } else {
            Vec::new()
        };
        self.lane_path(target, lane)
            .into_iter()
            .filter(|env| !skips.contains(env))
            .collect()
    }

    /// The stages a fast-track into `target` along `lane` skips: the test
    /// environments on the lane's path, upstream first (never `target`).
    pub fn fast_track_skips(&self, target: &EnvironmentId, lane: Lane) -> Vec<EnvironmentId> {
        self.lane_path(target, lane)
            .into_iter()
            .filter(|env| {
                env != target
                    && self
                        .environment(env)
                        .is_some_and(|e| e.role == EnvironmentRole::Test)
            })
            .collect()
    }

    /// The pipeline as a Graphviz DOT digraph.
    ///
    /// ```
    /// use knowngood::{EnvironmentRole, PipelineSpec};
    /// let p = PipelineSpec::new()
    ///     .environment("qa", EnvironmentRole::Test)
    ///     .environment("prod", EnvironmentRole::Production)
    ///     .promote("qa", "prod")
    ///     .build()
    ///     .unwrap();
    /// assert!(p.to_dot().contains("qa"));
    /// ```
    pub fn to_dot(&self) -> String {
        use petgraph::dot::{Config, Dot};
        let node = |_: &DiGraph<EnvironmentId, Lane>, (_, id): (NodeIndex, &EnvironmentId)| {
            let role = self
                .environment(id)
                .map(|e| e.role.to_string())
                .unwrap_or_default();
            let shape = if role == "production" {
                "doubleoctagon"
            } else {
                "box"
            };
            format!(
                "label = \"{}\\n({role})\" shape = {shape}",
                dot_text(id.as_str())
            )
        };
        let edge = |_: &DiGraph<EnvironmentId, Lane>,
                    e: petgraph::graph::EdgeReference<'_, Lane>| {
            match e.weight() {
                Lane::Main => "label = \"main\"".to_owned(),
                Lane::Hotfix => "label = \"hotfix\" style = dashed color = red".to_owned(),
            }
        };
        format!(
            "{:?}",
            Dot::with_attr_getters(
                &self.graph,
                &[Config::NodeNoLabel, Config::EdgeNoLabel],
                &edge,
                &node
            )
        )
    }

    /// The lanes with at least one path into `env`, main first.
    pub fn lanes_into(&self, env: &EnvironmentId) -> Vec<Lane> {
        [Lane::Main, Lane::Hotfix]
            .into_iter()
            .filter(|&lane| !self.predecessors(env, lane).is_empty())
            .collect()
    }
}

/// Text for a quoted DOT string: quotes and backslashes escaped, one line,
/// so an id cannot close the string and add attributes or statements.
fn dot_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
