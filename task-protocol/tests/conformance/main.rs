//! The handlers' own conformance cases, over the workspace's stores: the memory store, SQLite
//! on a file, and Redis under a fresh key prefix. Each case is a `#[tokio::test]` per store,
//! named `<store>::<case>`, run with the suite's hang guard.

mod cases;
mod stores;

/// One `#[tokio::test]` per case, named after it, with stores made by `$factory`.
macro_rules! protocol_cases {
    ($factory:expr) => {
        protocol_cases!(@tests $factory;
            protocol_hostile_requests,
            protocol_hostile_outcomes,
            protocol_ten_mb_payloads,
            protocol_foreign_like_missing,
        );
    };
    (@tests $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() {
                let case = conformance_tests::Case {
                    name: stringify!($case),
                    run: |factory| Box::pin(crate::cases::$case(factory)),
                };
                case.check($factory).await;
            }
        )*
    };
}

mod memory {
    protocol_cases!(crate::stores::memory);
}

mod sqlite {
    protocol_cases!(crate::stores::sqlite);
}

mod redis {
    protocol_cases!(crate::stores::redis);
}
