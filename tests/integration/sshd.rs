//! A real OpenSSH server (Debian's openssh-server) on a free loopback
//! port, with its own host key and authorized_keys, serving bare repos
//! from a temp dir, and a git working copy to push to them.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Sshd {
    pub port: u16,
    pub user: String,
    /// The deploy key's private half (what git2s3 fetches with).
    pub deploy_key: PathBuf,
    /// A known_hosts file with this server's host key.
    pub known_hosts: PathBuf,
    pub dir: tempfile::TempDir,
    child: Child,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn keygen(path: &Path, comment: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path));
}

impl Sshd {
    /// Starts sshd; `authorize_deploy_key` decides whether the deploy key
    /// may log in. It accepts `GIT_PROTOCOL`, as GitHub, GitLab and
    /// Bitbucket do, so git-upload-pack speaks protocol v2.
    pub fn start(authorize_deploy_key: bool) -> Sshd {
        Sshd::start_with(authorize_deploy_key, true)
    }

    /// [`Sshd::start`], and with `protocol_v2` false, an sshd that drops
    /// `GIT_PROTOCOL`, so that git-upload-pack speaks v0 (OpenSSH's default).
    pub fn start_with(authorize_deploy_key: bool, protocol_v2: bool) -> Sshd {
        let sshd = Path::new("/usr/sbin/sshd");
        assert!(
            sshd.exists(),
            "/usr/sbin/sshd is missing: run scripts/setup.sh, which installs openssh-server"
        );
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        keygen(&d.join("host_ed25519"), "git2s3-test-host");
        keygen(&d.join("deploy"), "git2s3-test-deploy");
        keygen(&d.join("other"), "someone-else");
        let authorized = if authorize_deploy_key {
            "deploy.pub"
        } else {
            "other.pub"
        };
        std::fs::copy(d.join(authorized), d.join("authorized_keys")).unwrap();
        std::fs::create_dir_all(d.join("repos")).unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let user = run(Command::new("id").arg("-un")).trim().to_string();
        if user == "root" {
            // sshd started as root needs its privilege separation directory.
            std::fs::create_dir_all("/run/sshd").unwrap();
        }
        std::fs::write(
            d.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_ed25519\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nStrictModes no\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nPermitRootLogin prohibit-password\n\
                 PubkeyAuthentication yes\nLogLevel VERBOSE\nMaxStartups 100\nMaxSessions 100\n{accept}",
                d = d.display(),
                accept = if protocol_v2 { "AcceptEnv GIT_PROTOCOL\n" } else { "" }
            ),
        )
        .unwrap();
        let log = std::fs::File::create(d.join("sshd.log")).unwrap();
        let child = Command::new(sshd)
            .args(["-D", "-e", "-f"])
            .arg(d.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start sshd");
        let log = d.join("sshd.log");
        crate::util::wait_for_port(port, "sshd", || {
            std::fs::read_to_string(&log).unwrap_or_default()
        });
        let host_pub = std::fs::read_to_string(d.join("host_ed25519.pub")).unwrap();
        let mut fields = host_pub.split_whitespace();
        let line = format!(
            "[127.0.0.1]:{port} {} {}\n",
            fields.next().unwrap(),
            fields.next().unwrap()
        );
        std::fs::write(d.join("known_hosts"), line).unwrap();
        Sshd {
            port,
            user,
            deploy_key: d.join("deploy"),
            known_hosts: d.join("known_hosts"),
            dir,
            child,
        }
    }

    /// A new bare repo, and its SSH URL.
    pub fn bare_repo(&self, path: &str) -> String {
        let repo = self.dir.path().join("repos").join(format!("{path}.git"));
        std::fs::create_dir_all(&repo).unwrap();
        run(Command::new("git")
            .args(["init", "-q", "--bare", "-b", "main"])
            .arg(&repo));
        format!(
            "ssh://{}@127.0.0.1:{}{}",
            self.user,
            self.port,
            repo.display()
        )
    }

    /// The URL of every repository this server holds, `{repo}` standing
    /// for its path: what `clone_url` says.
    pub fn clone_url_template(&self) -> String {
        format!(
            "ssh://{}@127.0.0.1:{}{}/{{repo}}.git",
            self.user,
            self.port,
            self.dir.path().join("repos").display()
        )
    }

    /// Lets `public_key` (an OpenSSH public key line) log in too.
    pub fn authorize(&self, public_key: &str) {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(self.dir.path().join("authorized_keys"))
            .unwrap();
        writeln!(file, "{}", public_key.trim()).unwrap();
    }

    /// `ssh` with the test's own key (`deploy_key`), checking this
    /// server's host key: for `git -c core.sshCommand=…` to push over SSH.
    pub fn ssh_command(&self) -> String {
        format!(
            "ssh -i {} -o IdentitiesOnly=yes -o UserKnownHostsFile={} -o StrictHostKeyChecking=yes -o BatchMode=yes",
            self.deploy_key.display(),
            self.known_hosts.display()
        )
    }

    /// The bare repo's path on disk, to push to it directly.
    pub fn repo_path(&self, path: &str) -> PathBuf {
        self.dir.path().join("repos").join(format!("{path}.git"))
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A working copy that pushes to a bare repo by path.
pub struct WorkTree {
    pub dir: tempfile::TempDir,
}

impl WorkTree {
    pub fn new(remote: &Path) -> WorkTree {
        let dir = tempfile::tempdir().unwrap();
        let w = WorkTree { dir };
        w.git(&["init", "-q", "-b", "main"]);
        w.git(&["remote", "add", "origin", remote.to_str().unwrap()]);
        w
    }

    pub fn git(&self, args: &[&str]) -> String {
        self.git_env(&[], args)
    }

    /// [`WorkTree::git`], with more variables in git's environment.
    pub fn git_env(&self, env: &[(&str, &std::ffi::OsStr)], args: &[&str]) -> String {
        run(Command::new("git")
            .args([
                "-c",
                "user.name=Test Pusher",
                "-c",
                "user.email=pusher@example.com",
                "-c",
                "core.quotePath=false",
            ])
            .args(args)
            .envs(env.iter().copied())
            .current_dir(self.dir.path()))
    }

    pub fn write(&self, path: &str, content: &[u8]) {
        let p = self.dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }

    /// Commits everything and returns the new commit id.
    pub fn commit(&self, message: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
        self.git(&["rev-parse", "HEAD"]).trim().to_string()
    }
}
