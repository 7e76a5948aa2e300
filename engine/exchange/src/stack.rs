//! The whole exchange in one process, as `exchange all` runs it, for end-to-end tests and
//! benchmarks: an embedded Aeron media driver in its own `/dev/shm` directory, the engine node
//! over it, every service, and the gateway listening on 127.0.0.1 on a port the OS picks. Plus
//! fixtures: instruments, an open session, traders with funds and holdings and the credentials
//! a client logs in with.
//!
//! [`Stack::stop`] shuts it down and reports a part that failed to stop; dropping the stack
//! (a test that panics, say) shuts it down the same way and only logs such failures.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_bus::{AeronCommandSink, AeronEventFeed, Bus};
use engine_core::{Command, Event, FeeSchedule, InstrumentSpec, Symbol};
use gateway::server::{Deps, Gateway, GatewayConfig};
use services_core::{CommandSink, EventBatch, EventFeed, SinkError};
use services_host::{ServiceName, ServicesConfig};
use services_users::{Claims, KycDecision, NewUser, Role, Users};

pub const WAIT: Duration = Duration::from_secs(60);

/// An instrument of the fixtures.
#[derive(Clone, Copy, Debug)]
pub struct Stock {
    pub symbol: &'static str,
    pub exchange_token: u32,
    /// Reference price, paise.
    pub reference: i64,
}

impl Stock {
    pub fn token(&self) -> u32 {
        self.exchange_token << 8 | 1
    }
}

pub const INFY: Stock = Stock { symbol: "INFY", exchange_token: 1594, reference: 150_000 };
pub const TCS: Stock = Stock { symbol: "TCS", exchange_token: 11536, reference: 350_000 };
pub const SBIN: Stock = Stock { symbol: "SBIN", exchange_token: 3045, reference: 80_000 };
pub const STOCKS: [Stock; 3] = [INFY, TCS, SBIN];

/// A trader and the credentials a client logs in with.
#[derive(Clone, Debug)]
pub struct Trader {
    pub user_id: String,
    pub password: String,
    pub totp_secret: String,
    pub api_key: String,
    pub api_secret: String,
    pub account: u32,
    pub roles: Vec<Role>,
}

impl Trader {
    /// The TOTP an authenticator app shows now.
    pub fn totp_now(&self) -> String {
        services_users::totp::code_for(&self.totp_secret, services_users::unix_now()).expect("totp")
    }
}

/// See the module documentation. Fields drop in declaration order, after [`Drop::drop`] has
/// stopped the gateway, the services and the node: the bus's clients before the bus, the data
/// directory last.
#[allow(missing_debug_implementations)]
pub struct Stack {
    pub gateway: Option<Gateway>,
    services: Option<services_host::Running>,
    control: Arc<engine_node::Control>,
    node: Option<std::thread::JoinHandle<anyhow::Result<engine_bus::BusRunReport>>>,
    pub addr: SocketAddr,
    pub sink: AeronCommandSink,
    pub feed: AeronEventFeed,
    pub users: Users,
    seen: Vec<EventBatch>,
    next_user: u32,
    pub config: engine_node::Config,
    pub bus: Bus,
    pub dir: tempfile::TempDir,
}

/// The node's configuration for the stack: the values below, then `overrides` over them.
fn node_config(data: &Path, overrides: &[(&str, &str)]) -> engine_node::Config {
    let env = [
        ("EXCHANGE_NODE_DATA_DIR", data.to_str().expect("utf-8 path")),
        ("EXCHANGE_PIPELINE_WAIT", "blocking"),
        ("EXCHANGE_PIPELINE_RING_SIZE", "4096"),
        ("EXCHANGE_SNAPSHOT_INTERVAL_S", "0"),
        ("EXCHANGE_ENGINE_ACCOUNTS_MAX", "1024"),
        ("EXCHANGE_ENGINE_ORDERS_MAX", "262144"),
        ("EXCHANGE_ENGINE_POSITIONS_MAX", "16384"),
        ("EXCHANGE_ENGINE_INSTRUMENTS_MAX", "32"),
        ("EXCHANGE_ENGINE_LEVELS_PER_BOOK_MAX", "65536"),
    ];
    let env = env.iter().chain(overrides).map(|(k, v)| (k.to_string(), v.to_string()));
    engine_node::Config::load(None, env).expect("config")
}

/// Claims of `user_id` with `roles` that never expire, for calling the users library directly
/// (as that user, or as an operator).
pub fn claims(user_id: &str, roles: &[Role]) -> Claims {
    Claims {
        iss: "exchange".into(),
        sub: user_id.into(),
        acc: 0,
        roles: roles.to_vec(),
        api_key: String::new(),
        iat: 0,
        exp: u64::MAX,
        jti: String::new(),
    }
}

/// An admin's claims, for setting up fixtures through the users library directly.
pub fn operator() -> Claims {
    claims("OP0000", &[Role::Admin])
}

impl Stack {
    /// Starts everything with the gateway's defaults except the port (any free one).
    pub fn start() -> Stack {
        Stack::start_with(GatewayConfig { listen: "127.0.0.1:0".into(), ..GatewayConfig::default() })
    }

    pub fn start_with(gateway_config: GatewayConfig) -> Stack {
        Stack::start_custom(gateway_config, &[], &ServiceName::ALL)
    }

    /// Starts the stack with `node_env` (`("EXCHANGE_SECTION_KEY", value)` pairs) applied over
    /// the node configuration, e.g. `("EXCHANGE_PIPELINE_WAIT", "yield")`, and only `services`
    /// (which must include users: [`Stack::trader`] waits for it to activate accounts).
    pub fn start_custom(gateway_config: GatewayConfig, node_env: &[(&str, &str)], services: &[ServiceName]) -> Stack {
        assert!(services.contains(&ServiceName::Users), "the stack needs the users service");
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = node_config(dir.path(), node_env);
        let bus = Bus::embedded(&config.bus).expect("bus");
        config.bus.driver_dir = bus.dir().to_string_lossy().into_owned();
        let control = Arc::new(engine_node::Control::default());
        let node = {
            let (control, config) = (Arc::clone(&control), config.clone());
            std::thread::spawn(move || engine_bus::run_node(&config, control))
        };
        let transport = Arc::new(crate::transport::BusTransport::new(bus.clone()));
        let services_config = ServicesConfig::default();
        let services = services_host::start(services, &services_config, dir.path(), transport).expect("services");
        let sink = bus.command_sink().expect("sink");
        assert!(engine_bus::wait_until(WAIT, || sink.is_connected()), "the node never subscribed to commands");
        let users =
            services_host::open_users(&services_config, dir.path(), Box::new(bus.command_sink().expect("sink")))
                .expect("users");
        let gateway_users =
            services_host::open_users(&services_config, dir.path(), Box::new(bus.command_sink().expect("sink")))
                .expect("users");
        let deps = Deps {
            data_dir: dir.path().to_path_buf(),
            users: gateway_users,
            feed: Box::new(bus.event_feed().expect("feed")),
            sink: Box::new(bus.command_sink().expect("sink")),
        };
        let gateway = Gateway::start(&gateway_config, deps).expect("gateway");
        let addr = gateway.local_addr();
        // Untethered: the stack reads its feed only when a test waits for an event, and a
        // tethered subscriber left unread for a publication window (some 40,000 orders) would
        // hold the engine's publisher back; this one is cut loose instead and catches up through
        // replay when it is read.
        let mut feed = bus.service_feed().expect("feed");
        feed.replay_from(1).expect("replay");
        Stack {
            gateway: Some(gateway),
            services: Some(services),
            control,
            node: Some(node),
            addr,
            sink,
            feed,
            users,
            seen: Vec::new(),
            next_user: 1,
            config,
            bus,
            dir,
        }
    }

    /// Replaces the gateway by a new one started with `config` (which may name API keys created
    /// since the start in `config.keys`); it replays the event log before it listens, on a new
    /// port (`config.listen`).
    pub fn restart_gateway(&mut self, config: &GatewayConfig) {
        if let Some(g) = self.gateway.take() {
            g.stop();
        }
        let services_config = ServicesConfig::default();
        let users = services_host::open_users(
            &services_config,
            self.dir.path(),
            Box::new(self.bus.command_sink().expect("sink")),
        )
        .expect("users");
        let deps = Deps {
            data_dir: self.dir.path().to_path_buf(),
            users,
            feed: Box::new(self.bus.event_feed().expect("feed")),
            sink: Box::new(self.bus.command_sink().expect("sink")),
        };
        let gateway = Gateway::start(config, deps).expect("gateway");
        self.addr = gateway.local_addr();
        self.gateway = Some(gateway);
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().to_path_buf()
    }

    /// Sends a command to the engine (retrying on back-pressure).
    pub fn send(&mut self, command: &Command) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.sink.submit(command) {
                Ok(()) => return,
                Err(SinkError::BackPressure) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1))
                }
                Err(e) => panic!("sending {command:?}: {e}"),
            }
        }
    }

    /// Waits for the first event (after those already seen) that `matches`, and returns it.
    pub fn wait_event(&mut self, what: &str, mut matches: impl FnMut(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            let mut batches = Vec::new();
            self.feed.poll(&mut batches, 1024, Duration::from_millis(20)).expect("feed");
            for b in batches {
                let found = b.events.iter().find(|e| matches(e)).copied();
                self.seen.push(b);
                if let Some(e) = found {
                    return e;
                }
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
        }
    }

    /// Sends a command and waits for an event that `matches` (a rejection fails the test).
    pub fn apply(&mut self, command: Command, what: &str, mut matches: impl FnMut(&Event) -> bool) -> Event {
        self.send(&command);
        let e = self.wait_event(what, |e| matches(e) || matches!(e, Event::Rejected { .. }));
        assert!(!matches!(e, Event::Rejected { .. }) || matches(&e), "{command:?} was refused: {e:?}");
        e
    }

    /// Lists the fixture instruments, a 1 bps fee schedule, and opens the session.
    pub fn market(&mut self) {
        for s in STOCKS {
            let spec = InstrumentSpec {
                token: s.token(),
                symbol: Symbol::new(s.symbol).expect("symbol"),
                tick: 5,
                lot: 1,
                band_bps: 2000,
                reference_price: s.reference,
                mis_leverage: 5,
            };
            let token = spec.token;
            self.apply(
                Command::AddInstrument(spec),
                "InstrumentAdded",
                |e| matches!(e, Event::InstrumentAdded { spec, .. } if spec.token == token),
            );
        }
        let fees = FeeSchedule { bps: 1, cap: 2_000, fee_account: 0 };
        self.send(&Command::CreateAccount { account: 0, limits: Default::default() });
        self.apply(Command::SetFeeSchedule(fees), "FeeScheduleSet", |e| matches!(e, Event::FeeScheduleSet(_)));
        self.apply(Command::OpenSession, "SessionOpened", |e| matches!(e, Event::SessionOpened));
    }

    /// Registers a user at `at` (unix seconds) and creates its API key then: enough to log in
    /// at `at`, with no KYC and no engine account yet. `user_id` defaults to `TU0001`,
    /// `TU0002`, ... (the stack's count of users, which also keeps names, e-mail addresses and
    /// phone numbers apart). The returned trader has the role trader only.
    pub fn user_at(&mut self, user_id: Option<&str>, at: u64) -> Trader {
        let n = self.next_user;
        self.next_user += 1;
        let user_id = user_id.map_or_else(|| format!("TU{n:04}"), str::to_string);
        let password = format!("correct horse battery {n}");
        let reg = self
            .users
            .register(
                &NewUser {
                    user_id: Some(&user_id),
                    name: &format!("Test Trader {n}"),
                    email: &format!("trader{n}@example.com"),
                    phone: &format!("+91987654{n:04}"),
                    password: &password,
                },
                at,
            )
            .expect("register");
        let code = services_users::totp::code_for(&reg.totp_secret, at).expect("totp");
        let creds = self.users.create_api_key(&user_id, &password, &code, at).expect("api key");
        Trader {
            user_id,
            password,
            totp_secret: reg.totp_secret,
            api_key: creds.api_key,
            api_secret: creds.api_secret,
            account: reg.account_id,
            roles: vec![Role::Trader],
        }
    }

    /// Registers a trader with verified KYC, an API key, `cash` paise and `holdings` (symbol,
    /// shares); waits until the engine account is active and funded.
    pub fn trader(&mut self, roles: &[Role], cash: i64, holdings: &[(Stock, i64)]) -> Trader {
        // Registered, and its API key made, a TOTP step well before now, so the client's login
        // in this step is not a reuse.
        let now = services_users::unix_now();
        let mut trader = self.user_at(None, now - 120);
        let user_id = trader.user_id.clone();
        if !roles.is_empty() {
            self.users.bootstrap_roles(&user_id, roles, now).expect("roles");
        }
        trader.roles = roles.to_vec();
        let pan = format!("ABCDE{}F", &user_id[user_id.len() - 4..]);
        self.users.submit_kyc(&claims(&user_id, &[Role::Trader]), &user_id, &pan, now).expect("submit kyc");
        self.users.review_kyc(&operator(), &user_id, KycDecision::Verify, now).expect("verify kyc");
        let account = trader.account;
        let deadline = Instant::now() + WAIT;
        while self.users.engine_account(&user_id).expect("engine account").status
            != services_users::EngineStatus::Active
        {
            assert!(Instant::now() < deadline, "{user_id}'s engine account never became active");
            let _ = self.users.flush_outbox(services_users::unix_now());
            std::thread::sleep(Duration::from_millis(20));
        }
        if cash > 0 {
            self.deposit(account, cash);
        }
        for &(stock, qty) in holdings {
            let token = stock.token();
            self.apply(
                Command::DepositHoldings { account, token, qty },
                "HoldingsChanged",
                |e| matches!(e, Event::HoldingsChanged { account: a, token: t, .. } if *a == account && *t == token),
            );
        }
        trader
    }

    pub fn deposit(&mut self, account: u32, amount: i64) {
        self.apply(
            deposit_command(account, amount),
            "BalanceChanged",
            |e| matches!(e, Event::BalanceChanged { account: a, .. } if *a == account),
        );
    }

    /// Every event the engine has published so far, read from seq 1 on a fresh feed (the
    /// stack's own feed is left where it is). A request the gateway answered after sending a
    /// command was answered from that command's published events, so they are all here.
    pub fn published_events(&self) -> Vec<Event> {
        let mut feed = self.bus.event_feed().expect("feed");
        feed.replay_from(1).expect("replay");
        let deadline = Instant::now() + WAIT;
        let (mut events, mut batches, mut last_seq, mut idle) = (Vec::new(), Vec::new(), 0, 0);
        loop {
            batches.clear();
            let n = feed.poll(&mut batches, 1024, Duration::from_millis(50)).expect("poll");
            for b in &batches {
                if b.seq > last_seq {
                    last_seq = b.seq;
                    events.extend(b.events.iter().copied());
                }
            }
            idle = if n == 0 && !feed.replaying() { idle + 1 } else { 0 };
            if idle >= 4 {
                return events;
            }
            assert!(Instant::now() < deadline, "the event log never caught up");
        }
    }

    /// Stops the gateway, the services and the node, in that order, and panics if one of them
    /// failed.
    pub fn stop(mut self) {
        let failures = self.shutdown();
        assert!(failures.is_empty(), "stopping the stack: {}", failures.join("; "));
    }

    /// Stops whatever still runs (the gateway, the services, then the node) and returns what
    /// failed. A second call finds nothing running and returns nothing.
    fn shutdown(&mut self) -> Vec<String> {
        let mut failures = Vec::new();
        if let Some(g) = self.gateway.take() {
            g.stop();
        }
        if let Some(s) = self.services.take() {
            if let Err(e) = s.stop() {
                failures.push(format!("services: {e}"));
            }
        }
        self.control.shutdown.store(true, Ordering::Release);
        if let Some(node) = self.node.take() {
            match node.join() {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => failures.push(format!("node: {e:#}")),
                Err(_) => failures.push("node: the thread panicked".into()),
            }
        }
        failures
    }
}

impl Drop for Stack {
    /// Shuts the stack down if [`Stack::stop`] did not. Dropping a running `services_host`
    /// runtime waits for service loops that only a stop ends, and a node thread left running
    /// would outlive its bus, so without this a test that panics would hang instead of failing.
    /// Failures are logged, not raised: this may run while a panic unwinds.
    fn drop(&mut self) {
        for failure in self.shutdown() {
            eprintln!("stack: stopping: {failure}");
        }
    }
}

fn deposit_command(account: u32, amount: i64) -> Command {
    Command::Deposit { client_ref: 0, account, amount }
}
