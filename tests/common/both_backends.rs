//! `both_backends!`: runs one suite of async store cases on SQLite (a fresh file
//! per case) and on PostgreSQL (one throwaway server, a fresh database per case).
//! Each case is `async fn case(store: &Store, url: &str)` in a `cases` module;
//! the including file declares `mod pg;` (tests/common/pg.rs).
//! `both_backends!(after_postgres = f; a, b)` also runs `f(&server).await` last.

#[macro_export]
macro_rules! both_backends {
    ($($case:ident),* $(,)?) => {
        $crate::both_backends!(@suite {} $($case),*);
    };
    (after_postgres = $after:ident; $($case:ident),* $(,)?) => {
        $crate::both_backends!(@suite { $after } $($case),*);
    };
    (@suite { $($after:ident)? } $($case:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    let dir = tempfile::tempdir().unwrap();
                    let url = format!("sqlite://{}", dir.path().join("carecall.db").display());
                    let store = carecall::store::Store::connect(&url).await.unwrap();
                    super::cases::$case(&store, &url).await;
                    store.close().await;
                }
            )*
        }

        /// One server for the whole suite (starting a cluster takes seconds),
        /// a fresh database per case.
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn postgres_suite() {
            let Some(server) = pg::PgServer::start() else { return };
            $(
                eprintln!("postgres: {}", stringify!($case));
                let url = server.fresh_database().await;
                let store = carecall::store::Store::connect(&url).await.unwrap();
                assert_eq!(store.backend(), carecall::store::Backend::Postgres);
                cases::$case(&store, &url).await;
                store.close().await;
            )*
            $($after(&server).await;)?
        }
    };
}
