//! Conformance of the access layer and the audit log: part of every backend's suite.

use sightline_core::Role;
use sightline_store::audit::{self, GENESIS};
use sightline_store::{
    AuditEntry, AuditQuery, NewToken, NewUser, SessionRecord, Store, StoreError, TokenFilter, UserChange,
};

pub fn run_all(store: &dyn Store) {
    projects_own_models(store);
    users_memberships_and_admins(store);
    tokens_are_found_by_hash_and_revoked(store);
    sessions_expire_and_end_with_the_password(store);
    the_audit_log_chains_every_append(store);
}

fn projects_own_models(store: &dyn Store) {
    let default = store.get_project("default").expect("get").expect("the default project exists");
    assert_eq!(default.id, 1);
    let p = store.create_project("fraud", 5).expect("create");
    assert!(matches!(store.create_project("fraud", 6), Err(StoreError::Conflict(_))));
    assert_eq!(store.get_project_by_id(p.id).expect("get"), Some(p.clone()));
    let names: Vec<_> = store.list_projects(None, 10).expect("list").into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["default", "fraud"]);

    let m = store.create_model(&crate::conformance::binary_model("fraud-model"), p.id, 7).expect("model");
    assert_eq!(m.project_id, p.id);
    assert_eq!(store.get_model("fraud-model").expect("get").map(|m| m.project_id), Some(p.id));
    let only_fraud: Vec<_> =
        store.list_models(None, 100, Some(&[p.id])).expect("list").into_iter().map(|m| m.spec.name).collect();
    assert_eq!(only_fraud, ["fraud-model"]);
    assert!(store.list_models(None, 100, Some(&[])).expect("list").is_empty());
}

fn users_memberships_and_admins(store: &dyn Store) {
    assert!(!store.has_admin(0).expect("has_admin"), "a new database has no administrator");
    let alice = store
        .create_user(&NewUser { name: "alice".into(), password_hash: "h1".into(), is_admin: false }, 1)
        .expect("u");
    assert!(matches!(
        store.create_user(&NewUser { name: "alice".into(), password_hash: "h".into(), is_admin: true }, 2),
        Err(StoreError::Conflict(_))
    ));
    assert!(!store.has_admin(0).expect("has_admin"));
    let bob =
        store.create_user(&NewUser { name: "bob".into(), password_hash: "h2".into(), is_admin: true }, 3).expect("u");
    assert!(store.has_admin(0).expect("has_admin"));
    let changed = store.update_user(bob.id, &UserChange { disabled: Some(true), ..UserChange::default() }).expect("u");
    assert!(changed.expect("bob exists").disabled);
    assert!(!store.has_admin(0).expect("has_admin"), "a disabled admin is no admin");
    assert_eq!(store.update_user(999_999, &UserChange::default()).expect("update"), None);

    let fraud = store.get_project("fraud").expect("get").expect("fraud");
    store.set_membership(fraud.id, alice.id, Some(Role::Viewer)).expect("grant");
    store.set_membership(fraud.id, alice.id, Some(Role::Editor)).expect("regrant");
    store.set_membership(1, alice.id, Some(Role::Ingest)).expect("grant");
    let roles: Vec<_> =
        store.memberships_of_user(alice.id).expect("list").into_iter().map(|m| (m.project, m.role)).collect();
    assert_eq!(roles, [("default".to_owned(), Role::Ingest), ("fraud".to_owned(), Role::Editor)]);
    store.set_membership(1, alice.id, None).expect("remove");
    let members: Vec<_> =
        store.members_of_project(fraud.id).expect("list").into_iter().map(|m| (m.user, m.role)).collect();
    assert_eq!(members, [("alice".to_owned(), Role::Editor)]);
    assert!(store.members_of_project(1).expect("list").is_empty());

    let totp = UserChange { totp_secret: Some(Some(vec![1, 2, 3])), ..UserChange::default() };
    let with_totp = store.update_user(alice.id, &totp).expect("update").expect("alice");
    assert_eq!(with_totp.totp_secret.as_deref(), Some(&[1u8, 2, 3][..]));
    assert_eq!(store.get_user("alice").expect("get"), Some(with_totp));
}

fn token(hash: u8, project: Option<i64>, role: Role, expires_ms: Option<i64>) -> NewToken {
    NewToken {
        hash: [hash; 32],
        display_prefix: format!("sl_{hash}"),
        name: format!("token {hash}"),
        owner_user_id: None,
        project_id: project,
        role,
        created_ms: 100,
        expires_ms,
    }
}

fn tokens_are_found_by_hash_and_revoked(store: &dyn Store) {
    let a = store.create_token(&token(1, Some(1), Role::Ingest, None)).expect("create");
    assert!(matches!(store.create_token(&token(1, None, Role::Admin, None)), Err(StoreError::Conflict(_))));
    let admin = store.create_token(&token(2, None, Role::Admin, Some(1_000))).expect("create");
    assert!(store.has_admin(999).expect("has_admin"), "a live server-wide admin token is an administrator");
    assert!(!store.has_admin(1_000).expect("has_admin"), "an expired one is not");
    assert_eq!(store.token_by_hash(&[1; 32]).expect("get"), Some(a.clone()));
    assert_eq!(store.token_by_hash(&[9; 32]).expect("get"), None);
    let ids: Vec<_> = store.list_tokens(TokenFilter::All, None, 10).expect("list").iter().map(|t| t.id).collect();
    assert_eq!(ids, [admin.id, a.id]);
    let in_default: Vec<_> =
        store.list_tokens(TokenFilter::Project(1), None, 10).expect("list").iter().map(|t| t.id).collect();
    assert_eq!(in_default, [a.id]);
    assert!(store.revoke_token(a.id, 500).expect("revoke"));
    assert!(!store.revoke_token(a.id, 600).expect("revoke again"), "a second revocation changes nothing");
    let revoked = store.get_token(a.id).expect("get").expect("exists");
    assert_eq!(revoked.revoked_ms, Some(500));
    assert!(!revoked.is_live(501));
}

fn sessions_expire_and_end_with_the_password(store: &dyn Store) {
    let alice = store.get_user("alice").expect("get").expect("alice");
    let s = SessionRecord { user_id: alice.id, csrf_hash: [7; 32], created_ms: 1_000, last_seen_ms: 1_000 };
    store.create_session(&[3; 32], &s).expect("create");
    store.create_session(&[4; 32], &SessionRecord { created_ms: 5_000, last_seen_ms: 5_000, ..s.clone() }).expect("c");
    assert_eq!(store.get_session(&[3; 32]).expect("get"), Some(s.clone()));
    store.touch_session(&[3; 32], 2_000).expect("touch");
    assert_eq!(store.get_session(&[3; 32]).expect("get").map(|s| s.last_seen_ms), Some(2_000));
    assert_eq!(store.expire_sessions(0, 3_000).expect("expire"), 1, "the idle one goes");
    assert_eq!(store.get_session(&[3; 32]).expect("get"), None);
    assert!(store.get_session(&[4; 32]).expect("get").is_some());
    store
        .update_user(alice.id, &UserChange { password_hash: Some("new".into()), ..UserChange::default() })
        .expect("update");
    assert_eq!(store.get_session(&[4; 32]).expect("get"), None, "a new password ends every session");
    store.create_session(&[5; 32], &s).expect("create");
    store.delete_session(&[5; 32]).expect("delete");
    assert_eq!(store.get_session(&[5; 32]).expect("get"), None);
}

fn the_audit_log_chains_every_append(store: &dyn Store) {
    let entry = |i: i64| AuditEntry {
        ts_ms: 1_000 + i,
        actor: if i % 2 == 0 { "user:alice".into() } else { "token:3".into() },
        source: "127.0.0.1".into(),
        action: if i < 3 { "auth.login".into() } else { "token.create".into() },
        target: format!("t{i}"),
        outcome: "success".into(),
    };
    let appended: Vec<_> = (0..5).map(|i| store.append_audit(&entry(i)).expect("append")).collect();
    assert_eq!(appended.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
    let all = store.list_audit(&AuditQuery { limit: 100, ..AuditQuery::default() }).expect("list");
    assert_eq!(all, appended);
    assert_eq!(audit::verify((0, GENESIS), &all), Ok((5, all[4].hash)));

    let page = store.list_audit(&AuditQuery { after_seq: Some(2), limit: 2, ..AuditQuery::default() }).expect("page");
    assert_eq!(page.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 4]);
    let alice = AuditQuery { actor: Some("user:alice".into()), limit: 100, ..AuditQuery::default() };
    assert_eq!(store.list_audit(&alice).expect("list").len(), 3);
    let tokens = AuditQuery { action_prefix: Some("token.".into()), limit: 100, ..AuditQuery::default() };
    assert_eq!(store.list_audit(&tokens).expect("list").len(), 2);
    let window = AuditQuery { from_ms: Some(1_001), to_ms: Some(1_003), limit: 100, ..AuditQuery::default() };
    assert_eq!(store.list_audit(&window).expect("list").iter().map(|r| r.seq).collect::<Vec<_>>(), [2, 3]);
}
