//! Parsing of resource request paths (`/api/v1/...`, `/apis/{group}/{version}/...`).

use crate::registry::{self, ResourceInfo};

/// What a path under `/api` or `/apis` addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiPath {
    /// `/api`: the core APIVersions document.
    CoreVersions,
    /// `/apis`: the APIGroupList.
    Groups,
    /// `/apis/{group}`: one APIGroup.
    Group(String),
    /// `/api/v1` or `/apis/{group}/{version}`: an APIResourceList.
    Resources {
        /// API group (`""` for core).
        group: String,
        /// API version.
        version: String,
    },
    /// A resource, a collection of it, or a subresource of one object.
    Resource(ResourcePath),
}

/// A request for a served resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourcePath {
    /// The resource.
    pub info: &'static ResourceInfo,
    /// Namespace from the path (`None` for cluster-scoped or all-namespaces requests).
    pub namespace: Option<String>,
    /// Object name, when the path names one object.
    pub name: Option<String>,
    /// Subresource (`status`, `binding`), when given.
    pub subresource: Option<String>,
    /// True for the legacy `/watch/` path prefix.
    pub legacy_watch: bool,
}

/// Why a path could not be mapped to a served resource.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Nothing is served at this path.
    #[error("the server could not find the requested resource")]
    NotFound,
}

/// Parses the path of a request (never including scheme or authority).
pub fn parse(path: &str) -> Result<ApiPath, PathError> {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segments.as_slice() {
        ["api"] => Ok(ApiPath::CoreVersions),
        ["apis"] => Ok(ApiPath::Groups),
        ["api", version, rest @ ..] => parse_gv("", version, rest),
        ["apis", group] => Ok(ApiPath::Group((*group).to_string())),
        ["apis", group, version, rest @ ..] => parse_gv(group, version, rest),
        _ => Err(PathError::NotFound),
    }
}

fn parse_gv(group: &str, version: &str, rest: &[&str]) -> Result<ApiPath, PathError> {
    if !registry::group_versions().contains(&(group, version)) {
        return Err(PathError::NotFound);
    }
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    if rest.is_empty() {
        return if legacy_watch {
            Err(PathError::NotFound)
        } else {
            Ok(ApiPath::Resources {
                group: group.to_string(),
                version: version.to_string(),
            })
        };
    }
    let lookup = |plural: &str| registry::lookup(group, version, plural).ok_or(PathError::NotFound);
    let resource = |info: &'static ResourceInfo,
                    namespace: Option<&str>,
                    name: Option<&str>,
                    sub: Option<&str>|
     -> Result<ApiPath, PathError> {
        if let Some(sub) = sub
            && !info.subresources.contains(&sub)
        {
            return Err(PathError::NotFound);
        }
        if legacy_watch && sub.is_some() {
            return Err(PathError::NotFound);
        }
        Ok(ApiPath::Resource(ResourcePath {
            info,
            namespace: namespace.map(str::to_string),
            name: name.map(str::to_string),
            subresource: sub.map(str::to_string),
            legacy_watch,
        }))
    };
    // `namespaces/{ns}/...` is ambiguous between a namespaced collection and the namespace
    // object's own subresources; only `status` and `finalize` are the latter.
    match rest {
        ["namespaces", ns, plural, tail @ ..]
            if !(group.is_empty()
                && tail.is_empty()
                && (*plural == "status" || *plural == "finalize")) =>
        {
            let info = lookup(plural)?;
            if !info.namespaced {
                return Err(PathError::NotFound);
            }
            match tail {
                [] => resource(info, Some(ns), None, None),
                [name] => resource(info, Some(ns), Some(name), None),
                [name, sub] => resource(info, Some(ns), Some(name), Some(sub)),
                _ => Err(PathError::NotFound),
            }
        }
        [plural] => resource(lookup(plural)?, None, None, None),
        [plural, name] => {
            let info = lookup(plural)?;
            if info.namespaced {
                return Err(PathError::NotFound);
            }
            resource(info, None, Some(name), None)
        }
        [plural, name, sub] => {
            let info = lookup(plural)?;
            if info.namespaced {
                return Err(PathError::NotFound);
            }
            resource(info, None, Some(name), Some(sub))
        }
        _ => Err(PathError::NotFound),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(path: &str) -> ResourcePath {
        match parse(path) {
            Ok(ApiPath::Resource(r)) => r,
            other => panic!("{path}: {other:?}"),
        }
    }

    /// (path, plural, namespace, name, subresource, legacy watch)
    type Case = (
        &'static str,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        bool,
    );

    #[test]
    fn paths_map_to_resources_namespaces_names_and_subresources() {
        let cases: &[Case] = &[
            ("/api/v1/pods", "pods", None, None, None, false),
            (
                "/api/v1/namespaces/a/pods",
                "pods",
                Some("a"),
                None,
                None,
                false,
            ),
            (
                "/api/v1/namespaces/a/pods/p",
                "pods",
                Some("a"),
                Some("p"),
                None,
                false,
            ),
            (
                "/api/v1/namespaces/a/pods/p/binding",
                "pods",
                Some("a"),
                Some("p"),
                Some("binding"),
                false,
            ),
            ("/api/v1/namespaces", "namespaces", None, None, None, false),
            (
                "/api/v1/namespaces/a",
                "namespaces",
                None,
                Some("a"),
                None,
                false,
            ),
            (
                "/api/v1/namespaces/a/status",
                "namespaces",
                None,
                Some("a"),
                Some("status"),
                false,
            ),
            (
                "/api/v1/nodes/n/status",
                "nodes",
                None,
                Some("n"),
                Some("status"),
                false,
            ),
            (
                "/apis/apps/v1/namespaces/m/daemonsets/d/status",
                "daemonsets",
                Some("m"),
                Some("d"),
                Some("status"),
                false,
            ),
            (
                "/apis/apps/v1/daemonsets",
                "daemonsets",
                None,
                None,
                None,
                false,
            ),
            (
                "/api/v1/watch/namespaces/a/pods",
                "pods",
                Some("a"),
                None,
                None,
                true,
            ),
            (
                "/apis/scheduling.k8s.io/v1/priorityclasses/x",
                "priorityclasses",
                None,
                Some("x"),
                None,
                false,
            ),
        ];
        for (path, plural, ns, name, sub, watch) in cases {
            let r = res(path);
            assert_eq!(r.info.plural, *plural, "{path}");
            assert_eq!(r.namespace.as_deref(), *ns, "{path}");
            assert_eq!(r.name.as_deref(), *name, "{path}");
            assert_eq!(r.subresource.as_deref(), *sub, "{path}");
            assert_eq!(r.legacy_watch, *watch, "{path}");
        }
    }

    #[test]
    fn unknown_resources_subresources_and_scopes_are_not_found() {
        for path in [
            "/api/v2/pods",
            "/api/v1/widgets",
            "/apis/apps/v1/namespaces/a/daemonsets/d/scale",
            "/api/v1/namespaces/a/nodes",
            "/api/v1/pods/p",
            "/apis/apps/v1/namespaces/a/daemonsets/d/status/extra",
            "/healthz",
        ] {
            assert_eq!(parse(path), Err(PathError::NotFound), "{path}");
        }
    }

    #[test]
    fn discovery_paths_are_recognised() {
        assert_eq!(parse("/api"), Ok(ApiPath::CoreVersions));
        assert_eq!(parse("/apis"), Ok(ApiPath::Groups));
        assert_eq!(parse("/apis/apps"), Ok(ApiPath::Group("apps".into())));
        assert_eq!(
            parse("/apis/apps/v1"),
            Ok(ApiPath::Resources {
                group: "apps".into(),
                version: "v1".into()
            })
        );
    }
}
