//! `bases/etat_civil.sql`: a PostgreSQL dump (`pg_dump --inserts` style) of the civil-status
//! application, the largest single file of the share; also the daily growth of that dump.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use fastrand::Rng;

use crate::calendar::Date;
use crate::rng::{chance, derived_rng, pick};
use crate::words::{first_name, street_address, surname, TOWN};
use crate::writer::ShareWriter;

pub(crate) const DUMP_PATH: &str = "bases/etat_civil.sql";
const BIRTH_INSERT_PREFIX: &str = "INSERT INTO public.naissances VALUES (";
/// Birth ids appended later continue after the last one found in this much of the dump's tail.
const TAIL_BYTES: u64 = 64 * 1024;

const HEADER: &str = "--
-- PostgreSQL database dump
--

-- Dumped from database version 15.6 (Debian 15.6-0+deb12u1)
-- Dumped by pg_dump version 15.6 (Debian 15.6-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: deces; Type: TABLE; Schema: public; Owner: mairie
--

CREATE TABLE public.deces (
    id integer NOT NULL,
    numero_acte character varying(16) NOT NULL,
    nom text NOT NULL,
    prenoms text NOT NULL,
    date_naissance date,
    date_deces date NOT NULL,
    lieu_deces text NOT NULL,
    domicile text
);

ALTER TABLE public.deces OWNER TO mairie;

--
-- Name: mariages; Type: TABLE; Schema: public; Owner: mairie
--

CREATE TABLE public.mariages (
    id integer NOT NULL,
    numero_acte character varying(16) NOT NULL,
    epoux_nom text NOT NULL,
    epoux_prenoms text NOT NULL,
    epouse_nom text NOT NULL,
    epouse_prenoms text NOT NULL,
    date_mariage date NOT NULL,
    regime_matrimonial text,
    officier text NOT NULL
);

ALTER TABLE public.mariages OWNER TO mairie;

--
-- Name: naissances; Type: TABLE; Schema: public; Owner: mairie
--

CREATE TABLE public.naissances (
    id integer NOT NULL,
    numero_acte character varying(16) NOT NULL,
    nom text NOT NULL,
    prenoms text NOT NULL,
    sexe character(1) NOT NULL,
    date_naissance date NOT NULL,
    heure_naissance time without time zone,
    lieu_naissance text NOT NULL,
    pere_nom text,
    pere_prenoms text,
    mere_nom text NOT NULL,
    mere_prenoms text NOT NULL,
    domicile_parents text,
    mention_marginale text,
    saisi_le timestamp without time zone NOT NULL
);

ALTER TABLE public.naissances OWNER TO mairie;

";

const FOOTER: &str = "
--
-- Name: deces deces_pkey; Type: CONSTRAINT; Schema: public; Owner: mairie
--

ALTER TABLE ONLY public.deces
    ADD CONSTRAINT deces_pkey PRIMARY KEY (id);

--
-- Name: mariages mariages_pkey; Type: CONSTRAINT; Schema: public; Owner: mairie
--

ALTER TABLE ONLY public.mariages
    ADD CONSTRAINT mariages_pkey PRIMARY KEY (id);

--
-- Name: naissances naissances_pkey; Type: CONSTRAINT; Schema: public; Owner: mairie
--

ALTER TABLE ONLY public.naissances
    ADD CONSTRAINT naissances_pkey PRIMARY KEY (id);

--
-- PostgreSQL database dump complete
--

";

const REGIMES: &[&str] = &[
    "NULL",
    "'communauté réduite aux acquêts'",
    "'séparation de biens'",
    "'participation aux acquêts'",
];

pub(crate) fn write_dump(share: &mut ShareWriter, seed: u64, budget: u64) -> io::Result<()> {
    let mut rng = derived_rng(seed, "bases");
    let mut sql = String::with_capacity(budget as usize + 4096);
    sql.push_str(HEADER);
    // pg_dump writes table data in name order; births come last, which lets the daily
    // appends find the last birth id in the file's tail.
    push_table_data(&mut sql, "deces", budget * 15 / 100, |id| {
        death_insert(&mut rng, id)
    });
    push_table_data(&mut sql, "mariages", budget * 15 / 100, |id| {
        wedding_insert(&mut rng, id)
    });
    let births_budget = budget.saturating_sub(sql.len() as u64 + FOOTER.len() as u64);
    push_table_data(&mut sql, "naissances", births_budget, |id| {
        birth_insert(&mut rng, id)
    });
    sql.push_str(FOOTER);
    share.write(DUMP_PATH, sql.as_bytes())
}

fn push_table_data(
    sql: &mut String,
    table: &str,
    budget: u64,
    mut insert: impl FnMut(u64) -> String,
) {
    sql.push_str(&format!(
        "--\n-- Data for Name: {table}; Type: TABLE DATA; Schema: public; Owner: mairie\n--\n\n"
    ));
    let end = sql.len() as u64 + budget;
    let mut id = 1;
    while (sql.len() as u64) < end {
        sql.push_str(&insert(id));
        id += 1;
    }
    sql.push('\n');
}

/// Appends `count` new birth rows after the last one, as the day's registrations would add.
/// Returns the number of bytes appended.
pub(crate) fn append_births(dump: &Path, rng: &mut Rng, count: u64) -> io::Result<u64> {
    let first_id = last_birth_id(dump)? + 1;
    let rows: String = (first_id..first_id + count)
        .map(|id| birth_insert(rng, id))
        .collect();
    OpenOptions::new()
        .append(true)
        .open(dump)?
        .write_all(rows.as_bytes())?;
    Ok(rows.len() as u64)
}

fn last_birth_id(dump: &Path) -> io::Result<u64> {
    let mut file = File::open(dump)?;
    let length = file.metadata()?.len();
    file.seek(SeekFrom::Start(length.saturating_sub(TAIL_BYTES)))?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail)?;
    let tail = String::from_utf8_lossy(&tail);
    let last_id = tail
        .lines()
        .filter_map(|line| line.strip_prefix(BIRTH_INSERT_PREFIX))
        .filter_map(|values| values.split(',').next()?.parse::<u64>().ok())
        .max();
    // A dump edited by hand may have lost its births; start far above any generated id.
    Ok(last_id.unwrap_or(1_000_000))
}

fn birth_insert(rng: &mut Rng, id: u64) -> String {
    let year = rng.u16(1960..=2024);
    let born = Date::random_in(rng, year);
    let family = surname(rng);
    let sex = if chance(rng, 50) { 'F' } else { 'M' };
    let father = if chance(rng, 85) {
        format!("'{}', '{}'", surname(rng), first_name(rng))
    } else {
        "NULL, NULL".to_string()
    };
    let margin_note = if chance(rng, 10) {
        format!(
            "'Mariée le {}'",
            Date::random_in(rng, year.saturating_add(25).min(2024)).french_long()
        )
    } else {
        "NULL".to_string()
    };
    format!(
        "{BIRTH_INSERT_PREFIX}{id}, '{year}-{:04}', '{family}', '{} {}', '{sex}', '{}', '{:02}:{:02}', \
         '{TOWN}', {father}, '{}', '{}', '{}', {margin_note}, '{} {:02}:{:02}:00');\n",
        rng.u32(1..400),
        first_name(rng),
        first_name(rng),
        born.iso(),
        rng.u8(0..24),
        rng.u8(0..60),
        surname(rng),
        first_name(rng),
        sql_quote(&street_address(rng)),
        born.iso(),
        rng.u8(8..18),
        rng.u8(0..60),
    )
}

fn wedding_insert(rng: &mut Rng, id: u64) -> String {
    let year = rng.u16(1970..=2024);
    let married = Date::random_in(rng, year);
    format!(
        "INSERT INTO public.mariages VALUES ({id}, '{}-{:04}', '{}', '{}', '{}', '{} {}', '{}', {}, '{} {}');\n",
        married.year,
        rng.u32(1..60),
        surname(rng),
        first_name(rng),
        surname(rng),
        first_name(rng),
        first_name(rng),
        married.iso(),
        pick(rng, REGIMES),
        first_name(rng),
        surname(rng),
    )
}

fn death_insert(rng: &mut Rng, id: u64) -> String {
    let birth_year = rng.u16(1920..=1990);
    let born = Date::random_in(rng, birth_year);
    let death_year = rng.u16(born.year.max(1970)..=2024);
    let died = Date::random_in(rng, death_year);
    format!(
        "INSERT INTO public.deces VALUES ({id}, '{}-{:04}', '{}', '{} {}', '{}', '{}', '{TOWN}', '{}');\n",
        died.year,
        rng.u32(1..120),
        surname(rng),
        first_name(rng),
        first_name(rng),
        born.iso(),
        died.iso(),
        sql_quote(&street_address(rng)),
    )
}

/// Doubles single quotes, as SQL string literals require (`rue de l''Église`).
fn sql_quote(text: &str) -> String {
    text.replace('\'', "''")
}
