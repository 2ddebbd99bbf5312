//! The demo organisation: groups, projects, users, service accounts, flow types, models.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

pub struct Project {
    pub id: i64,
    pub path: &'static str,
    pub group_id: i64,
}

pub const GROUPS: &[(i64, &str)] = &[
    (11, "acme"),
    (12, "acme/payments"),
    (13, "acme/platform"),
    (14, "acme/mobile"),
    (15, "acme/data"),
    (16, "acme/web"),
];

pub const PROJECTS: &[Project] = &[
    Project { id: 101, path: "acme/payments/api", group_id: 12 },
    Project { id: 102, path: "acme/payments/ledger", group_id: 12 },
    Project { id: 103, path: "acme/payments/fraud-model", group_id: 12 },
    Project { id: 104, path: "acme/platform/infra", group_id: 13 },
    Project { id: 105, path: "acme/platform/ci-templates", group_id: 13 },
    Project { id: 106, path: "acme/mobile/ios-app", group_id: 14 },
    Project { id: 107, path: "acme/mobile/android-app", group_id: 14 },
    Project { id: 108, path: "acme/data/warehouse", group_id: 15 },
    Project { id: 109, path: "acme/data/etl", group_id: 15 },
    Project { id: 110, path: "acme/web/storefront", group_id: 16 },
    Project { id: 111, path: "acme/web/admin-portal", group_id: 16 },
    Project { id: 112, path: "acme/platform/security-scanners", group_id: 13 },
];

pub struct ServiceAccount {
    pub id: i64,
    pub username: &'static str,
    pub flow_type: &'static str,
    pub item_id: i64,
    pub item_name: &'static str,
}

/// Service accounts acting for users through composite identity, one per foundational flow.
pub const SERVICE_ACCOUNTS: &[ServiceAccount] = &[
    ServiceAccount {
        id: 5001,
        username: "duo-developer-sa",
        flow_type: "software_development",
        item_id: 301,
        item_name: "Software Development",
    },
    ServiceAccount {
        id: 5002,
        username: "duo-code-review-sa",
        flow_type: "code_review",
        item_id: 302,
        item_name: "Code Review",
    },
    ServiceAccount {
        id: 5003,
        username: "duo-fix-pipeline-sa",
        flow_type: "fix_pipeline",
        item_id: 303,
        item_name: "Fix CI/CD Pipeline",
    },
    ServiceAccount {
        id: 5004,
        username: "duo-ci-convert-sa",
        flow_type: "convert_to_gitlab_ci",
        item_id: 304,
        item_name: "Convert to GitLab CI/CD",
    },
    ServiceAccount {
        id: 5005,
        username: "duo-issue-to-mr-sa",
        flow_type: "issue_to_merge_request",
        item_id: 305,
        item_name: "Issue to Merge Request",
    },
];

/// A service account that acts without ever being provisioned (planted anomaly).
pub const SHADOW_ACCOUNT: ServiceAccount = ServiceAccount {
    id: 5099,
    username: "duo-shadow-sa",
    flow_type: "software_development",
    item_id: 399,
    item_name: "Unlisted Flow",
};

/// Relative frequency of flow types (same order as SERVICE_ACCOUNTS).
pub const FLOW_WEIGHTS: &[u32] = &[40, 25, 15, 5, 15];

pub const MODELS: &[(&str, &str, u32)] = &[
    ("anthropic", "claude-sonnet-4-5", 70),
    ("anthropic", "claude-haiku-4-5", 20),
    ("vertex_ai", "codestral-2501", 10),
];

pub const BASE_SCOPES: &[&str] = &["api", "read_repository", "write_repository"];

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Liam", "Maya",
    "Noor", "Oscar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera", "Wen", "Yara", "Zoe",
];
const LAST: &[&str] =
    &["Fischer", "Okafor", "Tanaka", "Silva", "Novak", "Haddad", "Larsen", "Moreau", "Rossi", "Kowalski"];

pub struct User {
    pub id: i64,
    pub username: String,
    pub name: String,
    /// First working hour (UTC).
    pub start_hour: u32,
    /// Relative activity.
    pub activity: f64,
    pub projects: Vec<usize>,
    pub ips: Vec<String>,
    pub admin: bool,
}

pub fn users(rng: &mut ChaCha8Rng, count: usize) -> Vec<User> {
    (0..count)
        .map(|i| {
            let first = FIRST[i % FIRST.len()];
            let last = LAST[(i / FIRST.len() + i) % LAST.len()];
            let id = 1001 + i as i64;
            let n_projects = rng.gen_range(1..=3);
            let mut projects: Vec<usize> = (0..n_projects).map(|_| rng.gen_range(0..PROJECTS.len())).collect();
            projects.sort_unstable();
            projects.dedup();
            let start_hour = [7, 8, 8, 9, 9, 13, 14][rng.gen_range(0..7)];
            let ips = (0..rng.gen_range(1..=2)).map(|k| format!("10.20.{}.{}", (i % 250) + 1, 10 + k)).collect();
            User {
                id,
                username: format!("{}.{}", first.to_lowercase(), last.to_lowercase()),
                name: format!("{first} {last}"),
                start_hour,
                activity: 0.3 + rng.gen::<f64>() * 1.4,
                projects,
                ips,
                admin: i < 3,
            }
        })
        .collect()
}

/// Pick an index by weight.
pub fn weighted(rng: &mut ChaCha8Rng, weights: impl Iterator<Item = u32> + Clone) -> usize {
    let total: u32 = weights.clone().sum();
    let mut x = rng.gen_range(0..total);
    for (i, w) in weights.enumerate() {
        if x < w {
            return i;
        }
        x -= w;
    }
    unreachable!("x < total")
}
