//! A native-protocol (TCP) ClickHouse client: handshake with revision negotiation,
//! password auth, queries, INSERT with data blocks, optional LZ4 framing, and every
//! server packet a query can bring.
//!
//! Owns: one connection's bytes on the wire. Must not touch: Arrow, SQL text, retries
//! (the caller decides what to retry from `ChError::is_transient`).

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::ChError;
use super::decode::{Block, read_block};
use super::wire::{put_compressed, put_str, put_varint, read_array, read_compressed_frame};
use super::wire::{read_string, read_u8, read_varint};
use crate::genesys::Secret;

/// The revision we speak. The server answers with its own; both sides use the smaller.
/// 54429 is the last before query settings changed to strings-with-flags and before the
/// per-column serialization byte, the interserver secret and chunked framing: it covers
/// Debian's 18.16 (54412) and every modern server.
pub const CLIENT_REVISION: u64 = 54429;
const CLIENT_NAME: &str = concat!("genesys-etl ", env!("CARGO_PKG_VERSION"));

mod client_packet {
    pub const HELLO: u64 = 0;
    pub const QUERY: u64 = 1;
    pub const DATA: u64 = 2;
    pub const PING: u64 = 4;
}
mod server_packet {
    pub const HELLO: u64 = 0;
    pub const DATA: u64 = 1;
    pub const EXCEPTION: u64 = 2;
    pub const PROGRESS: u64 = 3;
    pub const PONG: u64 = 4;
    pub const END_OF_STREAM: u64 = 5;
    pub const PROFILE_INFO: u64 = 6;
    pub const TOTALS: u64 = 7;
    pub const EXTREMES: u64 = 8;
    pub const LOG: u64 = 10;
    pub const TABLE_COLUMNS: u64 = 11;
}
/// Revision gates (ClickHouse `ProtocolDefines.h`).
const REV_SERVER_TIMEZONE: u64 = 54058;
const REV_SERVER_DISPLAY_NAME: u64 = 54372;
const REV_VERSION_PATCH: u64 = 54401;
const REV_CLIENT_INFO: u64 = 50263;
const REV_QUOTA_KEY_IN_CLIENT_INFO: u64 = 54060;
const REV_SETTINGS_AS_STRINGS: u64 = 54429;
const REV_TOTAL_ROWS_IN_PROGRESS: u64 = 51554;
const REV_WRITTEN_IN_PROGRESS: u64 = 54420;

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct ConnectConfig {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub password: Secret,
    pub compression: bool,
    pub connect_timeout: Duration,
    pub io_timeout: Duration,
}

impl ConnectConfig {
    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What the server said about itself.
#[derive(Clone, Debug, Default)]
pub struct ServerInfo {
    pub name: String,
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub revision: u64,
    pub timezone: String,
}

impl ServerInfo {
    pub fn version(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }
    /// `DateTime64` arrived in 20.1; older servers get the legacy types.
    pub fn is_legacy(&self) -> bool {
        self.major < 20
    }
}

/// A query setting's value (integers and bools as `UInt`, everything else as `Str`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Setting {
    UInt(u64),
    Str(String),
}

impl From<u64> for Setting {
    fn from(v: u64) -> Self {
        Setting::UInt(v)
    }
}

impl From<&str> for Setting {
    fn from(v: &str) -> Self {
        Setting::Str(v.to_string())
    }
}

/// What a finished INSERT reported.
#[derive(Clone, Copy, Debug, Default)]
pub struct InsertStats {
    pub rows: u64,
    pub bytes: u64,
}

pub struct Connection {
    reader: BufReader<TcpStream>,
    writer: BufWriter<TcpStream>,
    revision: u64,
    server: ServerInfo,
    cfg: ConnectConfig,
    /// Settings sent with every query.
    settings: Vec<(&'static str, Setting)>,
    /// Server log lines received (Log packets, with `send_logs_level` set).
    pub log_lines: u64,
}

impl Connection {
    pub fn connect(cfg: &ConnectConfig) -> Result<Connection, ChError> {
        let addr = cfg.addr();
        let connect_err = |source: io::Error| ChError::Connect {
            addr: addr.clone(),
            source,
        };
        let sock = addr
            .to_socket_addrs()
            .map_err(connect_err)?
            .next()
            .ok_or_else(|| connect_err(io::Error::other("no address")))?;
        let stream = TcpStream::connect_timeout(&sock, cfg.connect_timeout).map_err(connect_err)?;
        stream.set_nodelay(true).map_err(connect_err)?;
        stream
            .set_read_timeout(Some(cfg.io_timeout))
            .map_err(connect_err)?;
        stream
            .set_write_timeout(Some(cfg.io_timeout))
            .map_err(connect_err)?;
        let writer = BufWriter::with_capacity(1 << 16, stream.try_clone().map_err(connect_err)?);
        let mut conn = Connection {
            reader: BufReader::with_capacity(1 << 16, stream),
            writer,
            revision: CLIENT_REVISION,
            server: ServerInfo::default(),
            cfg: cfg.clone(),
            settings: Vec::new(),
            log_lines: 0,
        };
        conn.hello()?;
        Ok(conn)
    }

    pub fn server(&self) -> &ServerInfo {
        &self.server
    }

    /// Adds a setting sent with every following query.
    pub fn set(&mut self, name: &'static str, value: impl Into<Setting>) {
        self.settings.retain(|(n, _)| *n != name);
        self.settings.push((name, value.into()));
    }

    fn io_err(&self, during: &str) -> impl Fn(io::Error) -> ChError + use<> {
        let during = during.to_string();
        let addr = self.cfg.addr();
        move |source| ChError::Io {
            addr: addr.clone(),
            during: during.clone(),
            source,
        }
    }

    fn hello(&mut self) -> Result<(), ChError> {
        let mut out = Vec::with_capacity(128);
        put_varint(&mut out, client_packet::HELLO);
        put_str(&mut out, CLIENT_NAME.as_bytes());
        put_varint(&mut out, 1);
        put_varint(&mut out, 0);
        put_varint(&mut out, CLIENT_REVISION);
        put_str(&mut out, self.cfg.database.as_bytes());
        put_str(&mut out, self.cfg.user.as_bytes());
        put_str(&mut out, self.cfg.password.expose().as_bytes());
        self.send(&out, "sending hello")?;
        let during = "reading the server hello";
        let r = &mut self.reader;
        let addr = self.cfg.addr();
        let e = |source| ChError::Io {
            addr: addr.clone(),
            during: during.into(),
            source,
        };
        match read_varint(r).map_err(e)? {
            server_packet::HELLO => {}
            server_packet::EXCEPTION => return Err(read_exception(r, during).map_err(e)?),
            p => return Err(protocol(during, format!("unexpected packet {p}"))),
        }
        let mut s = ServerInfo {
            name: read_string(r).map_err(e)?,
            major: read_varint(r).map_err(e)?,
            minor: read_varint(r).map_err(e)?,
            revision: read_varint(r).map_err(e)?,
            ..Default::default()
        };
        self.revision = CLIENT_REVISION.min(s.revision);
        if self.revision >= REV_SERVER_TIMEZONE {
            s.timezone = read_string(r).map_err(e)?;
        }
        if self.revision >= REV_SERVER_DISPLAY_NAME {
            read_string(r).map_err(e)?;
        }
        if self.revision >= REV_VERSION_PATCH {
            s.patch = read_varint(r).map_err(e)?;
        }
        self.server = s;
        Ok(())
    }

    fn send(&mut self, bytes: &[u8], during: &str) -> Result<(), ChError> {
        let e = self.io_err(during);
        let r = self
            .writer
            .write_all(bytes)
            .and_then(|()| self.writer.flush());
        r.map_err(e)
    }

    /// Checks the connection is alive (a pooled connection may have been closed).
    pub fn ping(&mut self) -> Result<(), ChError> {
        let mut out = Vec::new();
        put_varint(&mut out, client_packet::PING);
        self.send(&out, "sending ping")?;
        loop {
            let p = read_varint(&mut self.reader).map_err(self.io_err("reading pong"))?;
            match p {
                server_packet::PONG => return Ok(()),
                server_packet::PROGRESS => self.read_progress("reading pong")?,
                p => return Err(protocol("ping", format!("unexpected packet {p}"))),
            }
        }
    }

    fn query_packet(&self, sql: &str, compression: bool) -> Vec<u8> {
        let mut out = Vec::with_capacity(sql.len() + 256);
        put_varint(&mut out, client_packet::QUERY);
        put_str(&mut out, b""); // query id: let the server assign one
        if self.revision >= REV_CLIENT_INFO {
            out.push(1); // initial query
            put_str(&mut out, b""); // initial user
            put_str(&mut out, b""); // initial query id
            put_str(&mut out, b"0.0.0.0:0"); // initial address
            out.push(1); // interface: TCP
            put_str(&mut out, b""); // OS user
            put_str(&mut out, b""); // client hostname
            put_str(&mut out, CLIENT_NAME.as_bytes());
            put_varint(&mut out, 1);
            put_varint(&mut out, 0);
            put_varint(&mut out, CLIENT_REVISION);
            if self.revision >= REV_QUOTA_KEY_IN_CLIENT_INFO {
                put_str(&mut out, b"");
            }
            if self.revision >= REV_VERSION_PATCH {
                put_varint(&mut out, 0);
            }
        }
        for (name, value) in &self.settings {
            put_str(&mut out, name.as_bytes());
            if self.revision >= REV_SETTINGS_AS_STRINGS {
                put_varint(&mut out, 0); // flags: not important
                match value {
                    Setting::UInt(v) => put_str(&mut out, v.to_string().as_bytes()),
                    Setting::Str(v) => put_str(&mut out, v.as_bytes()),
                }
            } else {
                // Before 54429 each value is written in its setting's own type.
                match value {
                    Setting::UInt(v) => put_varint(&mut out, *v),
                    Setting::Str(v) => put_str(&mut out, v.as_bytes()),
                }
            }
        }
        put_str(&mut out, b""); // end of settings
        put_varint(&mut out, 2); // stage: complete
        put_varint(&mut out, u64::from(compression));
        put_str(&mut out, sql.as_bytes());
        // No external tables: an empty block ends them.
        self.data_packet(&empty_block(), compression, &mut out);
        out
    }

    fn data_packet(&self, block: &[u8], compression: bool, out: &mut Vec<u8>) {
        put_varint(out, client_packet::DATA);
        put_str(out, b"");
        if compression {
            put_compressed(out, block);
        } else {
            out.extend_from_slice(block);
        }
    }

    /// Runs a statement that returns no rows (DDL), waiting for the end of the stream.
    pub fn execute(&mut self, sql: &str) -> Result<(), ChError> {
        self.query(sql).map(|_| ())
    }

    /// Runs a query and returns its rows as blocks.
    pub fn query(&mut self, sql: &str) -> Result<Vec<Block>, ChError> {
        let packet = self.query_packet(sql, false);
        let during = format!("running `{}`", short(sql));
        self.send(&packet, &during)?;
        let mut blocks = Vec::new();
        loop {
            match self.read_packet(&during, false)? {
                Packet::Data(b) if b.rows > 0 => blocks.push(b),
                Packet::EndOfStream => return Ok(blocks),
                _ => {}
            }
        }
    }

    /// Runs `INSERT INTO … VALUES` with pre-encoded blocks (from `encode_block` with block
    /// info). `check_header` sees the server's column names and types before any data is
    /// sent, so a mismatch fails before the table is touched. Returns after EndOfStream:
    /// only then is the data written.
    pub fn insert(
        &mut self,
        sql: &str,
        blocks: &[Vec<u8>],
        check_header: &dyn Fn(&Block) -> Result<(), ChError>,
    ) -> Result<InsertStats, ChError> {
        let compression = self.cfg.compression;
        let packet = self.query_packet(sql, compression);
        let during = format!("running `{}`", short(sql));
        self.send(&packet, &during)?;
        loop {
            match self.read_packet(&during, compression)? {
                Packet::Data(header) => {
                    // On a mismatch the caller drops this connection mid-INSERT: the server
                    // then discards the statement without writing anything.
                    check_header(&header)?;
                    break;
                }
                Packet::EndOfStream => {
                    return Err(protocol(&during, "no header block before the end".into()));
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        let mut stats = InsertStats::default();
        for block in blocks {
            out.clear();
            self.data_packet(block, compression, &mut out);
            stats.bytes += block.len() as u64;
            let e = self.io_err(&during);
            self.writer.write_all(&out).map_err(e)?;
        }
        out.clear();
        self.data_packet(&empty_block(), compression, &mut out);
        self.send(&out, &during)?;
        loop {
            match self.read_packet(&during, compression)? {
                Packet::EndOfStream => return Ok(stats),
                Packet::Progress { written_rows } => stats.rows += written_rows,
                _ => {}
            }
        }
    }

    fn read_progress(&mut self, during: &str) -> Result<(), ChError> {
        self.read_progress_rows(during).map(|_| ())
    }

    fn read_progress_rows(&mut self, during: &str) -> Result<u64, ChError> {
        let rev = self.revision;
        let e = self.io_err(during);
        let r = &mut self.reader;
        let mut f = || -> io::Result<u64> {
            read_varint(r)?; // rows read
            read_varint(r)?; // bytes read
            if rev >= REV_TOTAL_ROWS_IN_PROGRESS {
                read_varint(r)?;
            }
            let mut written = 0;
            if rev >= REV_WRITTEN_IN_PROGRESS {
                written = read_varint(r)?;
                read_varint(r)?;
            }
            Ok(written)
        };
        f().map_err(e)
    }

    fn read_packet(&mut self, during: &str, compressed: bool) -> Result<Packet, ChError> {
        let e = self.io_err(during);
        let kind = read_varint(&mut self.reader).map_err(&e)?;
        match kind {
            server_packet::DATA | server_packet::TOTALS | server_packet::EXTREMES => {
                let r = &mut self.reader;
                let mut f = || -> io::Result<Block> {
                    read_string(r)?; // table name
                    if compressed {
                        let plain = read_compressed_frame(r)?;
                        read_block(&mut &plain[..], true)
                    } else {
                        read_block(r, true)
                    }
                };
                let block = f().map_err(&e)?;
                Ok(if kind == server_packet::DATA {
                    Packet::Data(block)
                } else {
                    Packet::Other
                })
            }
            server_packet::EXCEPTION => Err(read_exception(&mut self.reader, during).map_err(&e)?),
            server_packet::PROGRESS => {
                drop(e);
                let written_rows = self.read_progress_rows(during)?;
                Ok(Packet::Progress { written_rows })
            }
            server_packet::END_OF_STREAM => Ok(Packet::EndOfStream),
            server_packet::PROFILE_INFO => {
                let r = &mut self.reader;
                let mut f = || -> io::Result<()> {
                    read_varint(r)?; // rows
                    read_varint(r)?; // blocks
                    read_varint(r)?; // bytes
                    read_u8(r)?; // applied limit
                    read_varint(r)?; // rows before limit
                    read_u8(r)?; // calculated rows before limit
                    Ok(())
                };
                f().map_err(&e)?;
                Ok(Packet::Other)
            }
            server_packet::LOG => {
                let r = &mut self.reader;
                let mut f = || -> io::Result<Block> {
                    read_string(r)?;
                    read_block(r, true) // log blocks are never compressed
                };
                let block = f().map_err(&e)?;
                self.log_lines += block.rows as u64;
                for i in 0..block.rows {
                    tracing::debug!(target: "clickhouse", "{:?}", block.row(i));
                }
                Ok(Packet::Other)
            }
            server_packet::TABLE_COLUMNS => {
                let r = &mut self.reader;
                read_string(r).and_then(|_| read_string(r)).map_err(&e)?;
                Ok(Packet::Other)
            }
            p => Err(protocol(during, format!("unexpected server packet {p}"))),
        }
    }
}

enum Packet {
    Data(Block),
    Progress { written_rows: u64 },
    EndOfStream,
    Other,
}

fn empty_block() -> Vec<u8> {
    let mut b = Vec::with_capacity(16);
    // Block info as in `encode_block`, then 0 columns and 0 rows.
    put_varint(&mut b, 1);
    b.push(0);
    put_varint(&mut b, 2);
    b.extend_from_slice(&(-1i32).to_le_bytes());
    put_varint(&mut b, 0);
    put_varint(&mut b, 0);
    put_varint(&mut b, 0);
    b
}

/// Reads an Exception packet body (with its nested causes) into a `ChError::Server`.
fn read_exception(r: &mut impl Read, during: &str) -> io::Result<ChError> {
    let mut messages = Vec::new();
    let mut first_code = 0;
    let mut first_name = String::new();
    loop {
        let code = i32::from_le_bytes(read_array(r)?);
        let name = read_string(r)?;
        let message = read_string(r)?;
        let _stack = read_string(r)?;
        if messages.is_empty() {
            first_code = code;
            first_name = name;
        }
        messages.push(message.trim().to_string());
        if read_u8(r)? == 0 {
            break;
        }
    }
    Ok(ChError::Server {
        code: first_code,
        name: first_name,
        message: messages.join("; caused by: "),
        during: during.to_string(),
    })
}

fn protocol(during: &str, detail: String) -> ChError {
    ChError::Protocol {
        during: during.to_string(),
        detail,
    }
}

/// The start of a statement, for messages.
fn short(sql: &str) -> String {
    let one_line: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.len() > 80 {
        let mut end = 80;
        while !one_line.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &one_line[..end])
    } else {
        one_line
    }
}
