//! baresip 1.0 as the called phone, driven over ctrl_tcp by tools/baresip_ctrl.py.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::thread;
use std::time::Duration;

use super::{Peer, fixtures, free_port_block, peers_dir, read_lossy, tail, wait_listening};

// ---------------------------------------------------------------------------------------
// baresip

/// How the phone sends the survey's keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PhoneDtmf {
    /// RFC 4733 events, sent with ctrl_tcp `/sndcode` at the timeline's times.
    Rfc4733,
    /// DTMF tones mixed into the microphone WAV.
    InBand,
}

/// baresip 1.0 as an auto-answering phone, plus `baresip_ctrl.py` connected to its
/// ctrl_tcp port (connected before the call: ctrl_tcp does not replay past events).
pub struct Baresip {
    pub peer: Peer,
    pub ctrl: Peer,
    pub sip_port: u16,
    pub ctrl_port: u16,
    pub rec_dir: PathBuf,
    pub dir: PathBuf,
}

pub struct BaresipOutcome {
    pub ctrl_status: Option<ExitStatus>,
    pub ctrl_log: String,
    /// ctrl-clock seconds of CALL_ESTABLISHED and CALL_CLOSED.
    pub established_at: Option<f64>,
    pub closed_at: Option<f64>,
    /// `dump-*-dec.wav`: what the phone heard.
    pub heard: Vec<PathBuf>,
}

impl Baresip {
    pub fn start(dir: &Path, dtmf: PhoneDtmf) -> Baresip {
        let fx = fixtures();
        // baresip's sip_listen PORT also takes PORT+1 (SIP over TLS): keep ctrl off it.
        let base = free_port_block(12);
        let (sip_port, ctrl_port) = (base, base + 2);
        let cfg = dir.join("baresip");
        let rec_dir = dir.join("phone-rec");
        fs::create_dir_all(&cfg).unwrap();
        fs::create_dir_all(&rec_dir).unwrap();
        let mic = match dtmf {
            PhoneDtmf::Rfc4733 => fx.join("mic_speech.wav"),
            PhoneDtmf::InBand => fx.join("mic_inband.wav"),
        };
        let fill = |tmpl: &str| {
            read_lossy(&peers_dir().join("baresip").join(tmpl))
                .replace("@SIP_PORT@", &sip_port.to_string())
                .replace("@CTRL_PORT@", &ctrl_port.to_string())
                .replace("@RTP_PORTS@", &format!("{}-{}", base + 4, base + 11))
                .replace("@MIC@", &mic.to_string_lossy())
                .replace("@REC@", &rec_dir.to_string_lossy())
        };
        fs::write(cfg.join("config"), fill("config.tmpl")).unwrap();
        fs::write(cfg.join("accounts"), fill("accounts.tmpl")).unwrap();
        let peer = Peer::spawn(
            "baresip",
            dir,
            Command::new("/usr/bin/baresip").arg("-f").arg(&cfg),
        );
        assert!(
            wait_listening(ctrl_port, false, Duration::from_secs(10))
                && wait_listening(sip_port, true, Duration::from_secs(5)),
            "baresip did not come up: {}",
            tail(&read_lossy(&dir.join("baresip.stdout")), 20)
        );
        let steps: Vec<String> = match dtmf {
            PhoneDtmf::Rfc4733 => read_lossy(&fx.join("ctrl_steps.txt"))
                .lines()
                .map(str::to_string)
                .collect(),
            PhoneDtmf::InBand => vec![
                "wait:CALL_ESTABLISHED:60".into(),
                "wait:CALL_CLOSED:150".into(),
            ],
        };
        let ctrl = Peer::spawn(
            "ctrl",
            dir,
            Command::new("python3")
                .arg("-u")
                .arg(peers_dir().join("tools/baresip_ctrl.py"))
                .args(["--port", &ctrl_port.to_string(), "--exit-on-close"])
                .args(&steps),
        );
        // Let the client connect before anyone calls (python start-up + connect).
        thread::sleep(Duration::from_millis(800));
        Baresip {
            peer,
            ctrl,
            sip_port,
            ctrl_port,
            rec_dir,
            dir: dir.to_path_buf(),
        }
    }

    /// The address carecall dials (directly, no trunk in between).
    pub fn uri(&self) -> String {
        format!("sip:callee@127.0.0.1:{}", self.sip_port)
    }

    /// Waits for the ctrl script (it ends on CALL_CLOSED), then stops baresip gracefully.
    pub fn finish(&mut self, timeout: Duration) -> BaresipOutcome {
        let ctrl_status = self.ctrl.wait_timeout(timeout);
        thread::sleep(Duration::from_millis(500));
        self.peer.terminate(Duration::from_secs(3));
        let ctrl_log = read_lossy(&self.dir.join("ctrl.stdout"));
        let at = |ev: &str| {
            ctrl_log
                .lines()
                .filter(|l| l.contains(&format!("\"type\": \"{ev}\"")))
                .filter_map(|l| l.split_whitespace().next()?.parse::<f64>().ok())
                .next()
        };
        let mut heard: Vec<PathBuf> = fs::read_dir(&self.rec_dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.to_string_lossy().ends_with("-dec.wav"))
                    .collect()
            })
            .unwrap_or_default();
        heard.sort();
        BaresipOutcome {
            ctrl_status,
            established_at: at("CALL_ESTABLISHED"),
            closed_at: at("CALL_CLOSED"),
            ctrl_log,
            heard,
        }
    }
}

impl BaresipOutcome {
    pub fn answered_secs(&self) -> Option<f64> {
        Some(self.closed_at? - self.established_at?)
    }
}

/// baresip as operator `op7` (password `baresip-pw`, µ-law only) registering
/// with carecall's registrar on `carecall_port`, auto-answering with `mic` as
/// its voice, driven by the ctrl tool with `ctrl_args` (flags and steps).
pub struct OperatorPhone {
    pub peer: Peer,
    pub ctrl: Peer,
    pub dir: PathBuf,
}

impl OperatorPhone {
    pub fn start(dir: &Path, carecall_port: u16, mic: &Path, ctrl_args: &[&str]) -> OperatorPhone {
        let base = free_port_block(12);
        let cfg = dir.join("baresip");
        fs::create_dir_all(&cfg).unwrap();
        let rec = dir.join("operator-rec");
        fs::create_dir_all(&rec).unwrap();
        let config_text = read_lossy(&peers_dir().join("baresip/config.tmpl"))
            .replace("@SIP_PORT@", &base.to_string())
            .replace("@CTRL_PORT@", &(base + 2).to_string())
            .replace("@RTP_PORTS@", &format!("{}-{}", base + 4, base + 11))
            .replace("@MIC@", &mic.to_string_lossy())
            .replace("@REC@", &rec.to_string_lossy());
        fs::write(cfg.join("config"), config_text).unwrap();
        fs::write(
            cfg.join("accounts"),
            format!(
                "<sip:op7@127.0.0.1:{carecall_port}>;auth_pass=baresip-pw;regint=60;answermode=auto;audio_codecs=PCMU\n"
            ),
        )
        .unwrap();
        let peer = Peer::spawn(
            "baresip",
            dir,
            Command::new("/usr/bin/baresip").arg("-f").arg(&cfg),
        );
        assert!(
            wait_listening(base + 2, false, Duration::from_secs(10)),
            "baresip did not come up"
        );
        let ctrl = Peer::spawn(
            "ctrl",
            dir,
            Command::new("python3")
                .arg("-u")
                .arg(peers_dir().join("tools/baresip_ctrl.py"))
                .args(["--port", &(base + 2).to_string()])
                .args(ctrl_args),
        );
        OperatorPhone {
            peer,
            ctrl,
            dir: dir.to_path_buf(),
        }
    }

    /// The ctrl log (CALL_ESTABLISHED / CALL_CLOSED lines) once the ctrl
    /// steps are done (or `wait` passed), baresip stopped.
    pub fn finish(mut self, wait: Duration) -> String {
        self.ctrl.wait_timeout(wait);
        self.peer.terminate(Duration::from_secs(3));
        read_lossy(&self.dir.join("ctrl.stdout"))
    }
}
