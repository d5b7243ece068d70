//! What the hub spends on each post with text for information integrity
//! (DESIGN §10): its terms, its near-duplicate cluster and its trends, on a
//! realistic mix at 20,000 posts/s of event time (chatter in Italian and
//! English with hashtags, handles, masks and links; one post in ten from a
//! copy-paste campaign; one in five too short to cluster), with the cluster
//! book already full and each second's expiry included; drawing the texts is
//! measured apart, to be subtracted. The budget is well under
//! 10 µs per post.
//!
//! `cargo bench --bench integrity`

use campanile::integrity::neardup::{ClusterConfig, Clusters, Member};
use campanile::integrity::terms::Vocabulary;
use campanile::integrity::trends::{Place, TrendBook};
use criterion::{Criterion, Throughput, criterion_main};
use h3o::{CellIndex, LatLng, Resolution};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

const RATE: i64 = 20_000;
const BATCH: usize = 1_000;

const WORDS: &[&str] = &[
    "piazza",
    "maggiore",
    "concerto",
    "folla",
    "polizia",
    "uscita",
    "uscite",
    "palco",
    "gente",
    "stasera",
    "bellissimo",
    "caldo",
    "acqua",
    "coda",
    "ingresso",
    "nettuno",
    "via",
    "rizzoli",
    "indipendenza",
    "ambulanza",
    "bloccato",
    "tranquillo",
    "amici",
    "musica",
    "the",
    "crowd",
    "square",
    "police",
    "exit",
    "stage",
    "tonight",
    "amazing",
    "queue",
    "water",
    "gate",
    "north",
    "east",
    "closed",
    "open",
    "moving",
    "packed",
    "band",
    "singing",
    "lost",
    "phone",
    "and",
    "is",
    "are",
    "in",
    "di",
    "la",
    "il",
    "che",
    "per",
    "con",
    "non",
    "sono",
    "very",
    "near",
    "dell'archiginnasio",
    "perché",
    "città",
    "😍",
    "🔥",
    "!!!",
    "...",
    "@comune_bo",
    "[phone]",
    "[@handle]",
    "https://t.co/x1",
    "22:30",
];
const TAGS: &[&str] = &[
    "#bologna",
    "#concerto",
    "#piazzamaggiore",
    "#live",
    "#evacuazione",
    "#caldo",
];
const CAMPAIGN: &[&str] = &[
    "Stanno chiudendo tutte le uscite di Piazza Maggiore, la polizia carica la folla senza motivo! Condividete prima che cancellino tutto",
    "STANNO CHIUDENDO TUTTE LE USCITE DI PIAZZA MAGGIORE!!! la polizia carica la gente senza motivo, condividete prima che cancellino tutto",
    "They are closing every exit of the main square and the police are charging the crowd for no reason. Share this before they delete it!",
    "😱 They are closing every exit of the main square & the cops are charging the crowd for no reason... share this before they delete it 😱",
];

/// The `i`-th post's text, drawn afresh: a stream cycling through a pool
/// would make every text after the pool a duplicate of an earlier one.
fn text(rng: &mut StdRng, i: usize) -> String {
    match i % 10 {
        0 => (*CAMPAIGN.choose(rng).expect("not empty")).to_owned(),
        1 | 2 => {
            let n = rng.random_range(1..4);
            (0..n)
                .map(|_| *TAGS.choose(rng).expect("not empty"))
                .collect::<Vec<_>>()
                .join(" ")
        }
        _ => {
            let n = rng.random_range(8..30);
            let mut words: Vec<&str> = (0..n).map(|_| *WORDS.choose(rng).expect("not empty")).collect();
            if rng.random_bool(0.5) {
                words.push(TAGS.choose(rng).expect("not empty"));
            }
            words.join(" ")
        }
    }
}

fn cells() -> Vec<CellIndex> {
    let mut rng = StdRng::seed_from_u64(9);
    (0..500)
        .map(|_| {
            LatLng::new(rng.random_range(44.48..44.51), rng.random_range(11.33..11.36))
                .expect("valid")
                .to_cell(Resolution::Nine)
        })
        .collect()
}

/// Everything the hub keeps, and where in the stream it is.
struct Hub {
    vocabulary: Vocabulary,
    clusters: Clusters,
    trends: TrendBook,
    rng: StdRng,
    cells: Vec<CellIndex>,
    zones: Vec<Place>,
    next: usize,
}

impl Hub {
    fn post(&mut self) {
        let i = self.next;
        self.next += 1;
        let at = 1_800_000_000 + i as i64 / RATE;
        if i as i64 % RATE == 0 {
            self.clusters.expire(at);
            self.trends.expire(at);
        }
        let text = text(&mut self.rng, i);
        let contributor = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % 200_000;
        let cell = self.cells[i % self.cells.len()];
        let terms = self.vocabulary.terms(&text);
        self.clusters.add(
            Member {
                post: format!("p{i}"),
                contributor,
                at,
                cell,
            },
            &text,
        );
        let places = [self.zones[i % self.zones.len()].clone(), Place::Cell(cell)];
        self.trends.add(at, &places, contributor, &terms);
    }
}

fn bench(c: &mut Criterion) {
    let mut hub = Hub {
        vocabulary: Vocabulary::new(&["it", "en"]),
        clusters: Clusters::new(ClusterConfig::default()),
        trends: TrendBook::new(600, 5),
        rng: StdRng::seed_from_u64(15),
        cells: cells(),
        zones: (0..50).map(|z| Place::Zone(format!("zone-{z}"))).collect(),
        next: 0,
    };
    // A full cluster book (more texts than it holds at once); the trend book
    // holds 10 s of them, its cost per post being lookups rather than size.
    for _ in 0..200_000 {
        hub.post();
    }
    println!(
        "clusters held: {}, ready: {}",
        hub.clusters.len(),
        hub.clusters.ready().len()
    );

    let mut g = c.benchmark_group("integrity");
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("terms_cluster_trends_per_post", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                hub.post();
            }
        })
    });

    // What drawing the texts costs, to subtract from the figure above.
    let mut rng = StdRng::seed_from_u64(16);
    let mut i = 0;
    g.bench_function("text_generation_only", |b| {
        b.iter(|| {
            (0..BATCH)
                .map(|_| {
                    i += 1;
                    text(&mut rng, i).len()
                })
                .sum::<usize>()
        })
    });
    g.finish();
}

mod group {
    #![allow(missing_docs)]
    criterion::criterion_group!(benches, super::bench);
}
criterion_main!(group::benches);
