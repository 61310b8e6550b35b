//! Patch metadata for the types the embedded server serves: which lists merge (and by which
//! key) and which are replaced wholesale.
//!
//! Upstream reads this from `patchStrategy`/`patchMergeKey` struct tags through reflection;
//! k8s-openapi does not carry those tags, so the subset we need is written out here as a small
//! graph of struct types. A field that is not listed is a plain field: maps under it merge
//! recursively and lists under it are replaced, which is upstream's default for untagged fields.

/// A struct type whose fields carry patch metadata (directly or further down).
///
/// `Other` stands for every struct without interesting metadata; everything below it merges
/// maps and replaces lists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// Any type without list metadata below it.
    Other,
    /// `meta/v1 ObjectMeta`.
    ObjectMeta,
    /// A top-level object whose `spec` is `PodSpec` (Pod).
    Pod,
    /// `core/v1 PodStatus`.
    PodStatus,
    /// `core/v1 PodTemplateSpec`.
    PodTemplateSpec,
    /// `core/v1 PodSpec`.
    PodSpec,
    /// `core/v1 Container` (also used for init and ephemeral containers).
    Container,
    /// `apps/v1 DaemonSet`.
    DaemonSet,
    /// `apps/v1 DaemonSetSpec`.
    DaemonSetSpec,
    /// A status whose `conditions` merge by `type` (DaemonSet, Namespace, Service).
    ConditionsStatus,
    /// `core/v1 Node`.
    Node,
    /// `core/v1 NodeSpec`.
    NodeSpec,
    /// `core/v1 NodeStatus`.
    NodeStatus,
    /// `core/v1 Service`.
    Service,
    /// `core/v1 ServiceSpec`.
    ServiceSpec,
    /// `core/v1 ServiceAccount`.
    ServiceAccount,
    /// Any other top-level object: only its `metadata` has list metadata.
    Object,
    /// A top-level object whose `status` has keyed conditions (Namespace).
    ObjectWithConditions,
}

/// How a list field is patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListStrategy {
    /// No `patchStrategy`: the patch's list replaces the original list.
    Replace,
    /// `patchStrategy: merge`: map items are merged by this key, primitives are unioned.
    /// The key is empty for lists of primitives.
    Merge(&'static str),
}

/// Patch metadata of one field: the struct type of its value (or of its list items) and, for
/// lists, how they are patched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldMeta {
    /// Type of the field's value, or of each list item.
    pub ty: Ty,
    /// Strategy used when the field holds a list.
    pub list: ListStrategy,
}

impl FieldMeta {
    /// A field with no metadata at all.
    pub const PLAIN: FieldMeta = FieldMeta {
        ty: Ty::Other,
        list: ListStrategy::Replace,
    };

    const fn of(ty: Ty) -> FieldMeta {
        FieldMeta {
            ty,
            list: ListStrategy::Replace,
        }
    }

    const fn merge(ty: Ty, key: &'static str) -> FieldMeta {
        FieldMeta {
            ty,
            list: ListStrategy::Merge(key),
        }
    }
}

/// The root type of a kind, or `None` when strategic merge patch is not supported for it.
pub fn root(kind: &str) -> Option<Ty> {
    Some(match kind {
        "DaemonSet" => Ty::DaemonSet,
        "Pod" => Ty::Pod,
        "Node" => Ty::Node,
        "Service" => Ty::Service,
        "ServiceAccount" => Ty::ServiceAccount,
        "Namespace" => Ty::ObjectWithConditions,
        "ConfigMap" | "Secret" | "Event" | "ControllerRevision" | "Lease" | "PriorityClass"
        | "Role" | "RoleBinding" | "ClusterRole" | "ClusterRoleBinding" | "Binding" => Ty::Object,
        _ => return None,
    })
}

/// Patch metadata of field `name` in a value of type `ty`.
pub fn field(ty: Ty, name: &str) -> FieldMeta {
    use ListStrategy::Replace;
    match (ty, name) {
        (
            Ty::DaemonSet
            | Ty::Pod
            | Ty::Node
            | Ty::Service
            | Ty::ServiceAccount
            | Ty::Object
            | Ty::ObjectWithConditions
            | Ty::PodTemplateSpec,
            "metadata",
        ) => FieldMeta::of(Ty::ObjectMeta),
        (Ty::ObjectMeta, "finalizers") => FieldMeta::merge(Ty::Other, ""),
        (Ty::ObjectMeta, "ownerReferences") => FieldMeta::merge(Ty::Other, "uid"),

        (Ty::DaemonSet, "spec") => FieldMeta::of(Ty::DaemonSetSpec),
        (Ty::DaemonSet | Ty::ObjectWithConditions, "status") => FieldMeta::of(Ty::ConditionsStatus),
        (Ty::ConditionsStatus, "conditions") => FieldMeta::merge(Ty::Other, "type"),
        (Ty::DaemonSetSpec, "template") => FieldMeta::of(Ty::PodTemplateSpec),
        (Ty::PodTemplateSpec, "spec") => FieldMeta::of(Ty::PodSpec),

        (Ty::Pod, "spec") => FieldMeta::of(Ty::PodSpec),
        (Ty::Pod, "status") => FieldMeta::of(Ty::PodStatus),
        (Ty::PodStatus, "conditions") => FieldMeta::merge(Ty::Other, "type"),
        (Ty::PodStatus, "podIPs" | "hostIPs") => FieldMeta::merge(Ty::Other, "ip"),
        (Ty::PodStatus, "resourceClaimStatuses") => FieldMeta::merge(Ty::Other, "name"),

        (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => {
            FieldMeta::merge(Ty::Container, "name")
        }
        // Volumes are `merge,retainKeys`; `$retainKeys` is honoured wherever the patch has it.
        (Ty::PodSpec, "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates") => {
            FieldMeta::merge(Ty::Other, "name")
        }
        (Ty::PodSpec, "hostAliases") => FieldMeta::merge(Ty::Other, "ip"),
        (Ty::PodSpec, "topologySpreadConstraints") => FieldMeta::merge(Ty::Other, "topologyKey"),

        (Ty::Container, "ports") => FieldMeta::merge(Ty::Other, "containerPort"),
        (Ty::Container, "env") => FieldMeta::merge(Ty::Other, "name"),
        // Upstream keys volumeMounts by mountPath, not by name.
        (Ty::Container, "volumeMounts") => FieldMeta::merge(Ty::Other, "mountPath"),
        (Ty::Container, "volumeDevices") => FieldMeta::merge(Ty::Other, "devicePath"),

        (Ty::Node, "spec") => FieldMeta::of(Ty::NodeSpec),
        (Ty::Node, "status") => FieldMeta::of(Ty::NodeStatus),
        (Ty::NodeSpec, "podCIDRs") => FieldMeta::merge(Ty::Other, ""),
        (Ty::NodeStatus, "conditions" | "addresses") => FieldMeta::merge(Ty::Other, "type"),

        (Ty::Service, "spec") => FieldMeta::of(Ty::ServiceSpec),
        (Ty::Service, "status") => FieldMeta::of(Ty::ConditionsStatus),
        (Ty::ServiceSpec, "ports") => FieldMeta::merge(Ty::Other, "port"),

        (Ty::ServiceAccount, "secrets") => FieldMeta::merge(Ty::Other, "name"),

        _ => FieldMeta {
            ty: Ty::Other,
            list: Replace,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemonset_containers_resolve_to_container_type_keyed_by_name() {
        let spec = field(Ty::DaemonSet, "spec").ty;
        let template = field(spec, "template").ty;
        let pod_spec = field(template, "spec").ty;
        assert_eq!(
            field(pod_spec, "containers"),
            FieldMeta::merge(Ty::Container, "name")
        );
        assert_eq!(field(pod_spec, "tolerations").list, ListStrategy::Replace);
    }

    #[test]
    fn unknown_kinds_have_no_schema() {
        assert_eq!(root("Widget"), None);
        assert_eq!(root("ConfigMap"), Some(Ty::Object));
    }
}
