//! Building the pods the controller creates (spec 3.9).

use std::collections::BTreeMap;

use everynode_model::wellknown::{
    CONTROLLER_REVISION_HASH_LABEL, POD_TEMPLATE_GENERATION_LABEL, TEMPLATE_GENERATION_ANNOTATION,
};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{
    Affinity, NodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, PodSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::placement::add_automatic_tolerations;

/// The field key daemon pods are pinned with (`matchFields` on the node's name).
pub const OBJECT_NAME_FIELD: &str = "metadata.name";

/// The DaemonSet's internal templateGeneration, from the annotation apps/v1 exposes it
/// through; `None` when absent or not an int64.
pub fn template_generation(ds: &DaemonSet) -> Option<i64> {
    ds.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
        .and_then(|v| v.trim().parse::<i64>().ok())
}

/// The controller ownerReference every daemon pod and revision carries.
pub fn controller_owner_ref(ds: &DaemonSet) -> OwnerReference {
    OwnerReference {
        api_version: "apps/v1".to_owned(),
        kind: "DaemonSet".to_owned(),
        name: ds.metadata.name.clone().unwrap_or_default(),
        uid: ds.metadata.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// The `generateName` of daemon pods: `<dsName>-`, or `<dsName>` when the dash form is not a
/// valid name prefix (upstream checks the prefix as a DNS subdomain with the dash masked).
pub fn generate_name(ds_name: &str) -> String {
    let candidate = format!("{ds_name}-");
    let masked = format!("{ds_name}a");
    if is_dns1123_subdomain(&masked) {
        candidate
    } else {
        ds_name.to_owned()
    }
}

/// True for a DNS-1123 subdomain: at most 253 chars of dot-separated labels made of
/// lowercase alphanumerics and `-`, each starting and ending alphanumeric.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    if s.is_empty() || s.len() > 253 {
        return false;
    }
    s.split('.').all(|label| {
        let bytes = label.as_bytes();
        let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                alnum(first) && alnum(last) && bytes.iter().all(|b| alnum(b) || *b == b'-')
            }
            _ => false,
        }
    })
}

/// The parts of a daemon pod that are the same for every node, built once per sync.
#[derive(Debug, Clone)]
pub struct DaemonPodTemplate {
    base: Pod,
}

impl DaemonPodTemplate {
    /// Prepares pods of `ds` labelled with revision `hash` (empty: no hash label).
    pub fn new(ds: &DaemonSet, hash: &str) -> Self {
        let template = ds.spec.template.clone();
        let template_meta = template.metadata.unwrap_or_default();
        let mut spec: PodSpec = template.spec.unwrap_or_default();
        add_automatic_tolerations(&mut spec);

        let mut labels: BTreeMap<String, String> = template_meta.labels.unwrap_or_default();
        if !hash.is_empty() {
            labels.insert(CONTROLLER_REVISION_HASH_LABEL.to_owned(), hash.to_owned());
        }
        if let Some(generation) = template_generation(ds) {
            labels.insert(
                POD_TEMPLATE_GENERATION_LABEL.to_owned(),
                generation.to_string(),
            );
        }

        let ds_name = ds.metadata.name.as_deref().unwrap_or("");
        let metadata = ObjectMeta {
            generate_name: Some(generate_name(ds_name)),
            namespace: ds.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: template_meta.annotations,
            finalizers: template_meta.finalizers,
            owner_references: Some(vec![controller_owner_ref(ds)]),
            ..ObjectMeta::default()
        };
        DaemonPodTemplate {
            base: Pod {
                metadata,
                spec: Some(spec),
                status: None,
            },
        }
    }

    /// The daemon pod for `node_name`: required node affinity replaced by a single
    /// `metadata.name In [node]` term (user terms were already evaluated by placement).
    pub fn for_node(&self, node_name: &str) -> Pod {
        let mut pod = self.base.clone();
        let spec = pod.spec.get_or_insert_with(PodSpec::default);
        pin_to_node(spec, node_name);
        pod
    }
}

/// Replaces the required node affinity of `spec` with the single-node `matchFields` pin,
/// keeping preferred terms and pod (anti-)affinity.
pub fn pin_to_node(spec: &mut PodSpec, node_name: &str) {
    let term = NodeSelectorTerm {
        match_expressions: None,
        match_fields: Some(vec![NodeSelectorRequirement {
            key: OBJECT_NAME_FIELD.to_owned(),
            operator: "In".to_owned(),
            values: Some(vec![node_name.to_owned()]),
        }]),
    };
    let affinity = spec.affinity.get_or_insert_with(Affinity::default);
    let node_affinity = affinity
        .node_affinity
        .get_or_insert_with(NodeAffinity::default);
    let required = node_affinity
        .required_during_scheduling_ignored_during_execution
        .get_or_insert_with(NodeSelector::default);
    required.node_selector_terms = vec![term];
}

/// Builds the daemon pod of `ds` for `node_name`, labelled with revision `hash` (spec 3.9).
pub fn daemon_pod(ds: &DaemonSet, node_name: &str, hash: &str) -> Pod {
    DaemonPodTemplate::new(ds, hash).for_node(node_name)
}
