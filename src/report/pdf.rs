//! The report as PDF, laid out by hand with `printpdf`: A4, DejaVu Sans embedded (real,
//! selectable text), a bookmark per section and control, tables that break across pages with
//! their header row repeated, wrapped cells, the same charts as the HTML drawn as vector
//! bars, and a footer with page numbers on every page.

use printpdf::{
    Color, FontId, Line, LinePoint, Op, PaintMode, ParsedFont, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions,
    Point, Pt, Rect, Rgb, TextItem,
};

use super::checks::Table;
use super::Report;

const REGULAR: &[u8] = include_bytes!("../../report_templates/fonts/DejaVuSans.ttf");
const BOLD: &[u8] = include_bytes!("../../report_templates/fonts/DejaVuSans-Bold.ttf");

const W: f32 = 595.28;
const H: f32 = 841.89;
const MARGIN: f32 = 48.0;
const TOP: f32 = H - MARGIN;
const BOTTOM: f32 = 56.0;

#[derive(Clone, Copy)]
enum Face {
    Regular,
    Bold,
}

struct Font {
    id: FontId,
    parsed: ParsedFont,
}

impl Font {
    /// Width of `text` at `size` points.
    fn width(&self, text: &str, size: f32) -> f32 {
        let upem = f32::from(self.parsed.units_per_em.max(1));
        let units: u32 = text
            .chars()
            .map(|c| {
                let g = self.parsed.lookup_glyph_index(c as u32).unwrap_or(0);
                u32::from(self.parsed.get_glyph_width(g).unwrap_or(self.parsed.units_per_em / 2))
            })
            .sum();
        units as f32 * size / upem
    }
}

struct Writer {
    doc: PdfDocument,
    regular: Font,
    bold: Font,
    pages: Vec<Vec<Op>>,
    y: f32,
}

fn rgb(r: f32, g: f32, b: f32) -> Color {
    Color::Rgb(Rgb::new(r, g, b, None))
}

/// The status colours of the HTML.
fn status_color(status: &str) -> (f32, f32, f32) {
    match status {
        "satisfied" => (0.86, 0.94, 0.86),
        "exception" => (0.96, 0.85, 0.85),
        _ => (0.96, 0.93, 0.78),
    }
}

impl Writer {
    fn new(title: &str) -> Writer {
        let mut doc = PdfDocument::new(title);
        let mut warnings = Vec::new();
        let load = |doc: &mut PdfDocument, bytes: &[u8], warnings: &mut Vec<_>| {
            let parsed = ParsedFont::from_bytes(bytes, 0, warnings).expect("the bundled DejaVu fonts parse");
            Font { id: doc.add_font(&parsed), parsed }
        };
        let regular = load(&mut doc, REGULAR, &mut warnings);
        let bold = load(&mut doc, BOLD, &mut warnings);
        Writer { doc, regular, bold, pages: vec![Vec::new()], y: TOP }
    }

    fn font(&self, face: Face) -> &Font {
        match face {
            Face::Regular => &self.regular,
            Face::Bold => &self.bold,
        }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("a page is open")
    }

    fn new_page(&mut self) {
        self.pages.push(Vec::new());
        self.y = TOP;
    }

    /// Start a new page unless `needed` points fit on this one.
    fn ensure(&mut self, needed: f32) {
        if self.y - needed < BOTTOM {
            self.new_page();
        }
    }

    fn text_at(&mut self, x: f32, y: f32, text: &str, face: Face, size: f32, color: (f32, f32, f32)) {
        let id = self.font(face).id.clone();
        self.ops().extend([
            Op::StartTextSection,
            Op::SetFillColor { col: rgb(color.0, color.1, color.2) },
            Op::SetFont { font: PdfFontHandle::External(id), size: Pt(size) },
            Op::SetTextCursor { pos: Point { x: Pt(x), y: Pt(y) } },
            Op::ShowText { items: vec![TextItem::Text(text.to_string())] },
            Op::EndTextSection,
        ]);
    }

    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, color: (f32, f32, f32)) {
        self.ops().extend([
            Op::SetFillColor { col: rgb(color.0, color.1, color.2) },
            Op::DrawRectangle {
                rectangle: Rect {
                    x: Pt(x),
                    y: Pt(y),
                    width: Pt(w),
                    height: Pt(h),
                    mode: Some(PaintMode::Fill),
                    winding_order: None,
                },
            },
        ]);
    }

    fn line(&mut self, x1: f32, y1: f32, x2: f32, y2: f32, gray: f32) {
        let p = |x: f32, y: f32| LinePoint { p: Point { x: Pt(x), y: Pt(y) }, bezier: false };
        self.ops().extend([
            Op::SetOutlineColor { col: rgb(gray, gray, gray) },
            Op::SetOutlineThickness { pt: Pt(0.5) },
            Op::DrawLine { line: Line { points: vec![p(x1, y1), p(x2, y2)], is_closed: false } },
        ]);
    }

    /// Lines of `text` no wider than `width`: words wrapped, over-long words cut.
    fn wrap(&self, text: &str, face: Face, size: f32, width: f32) -> Vec<String> {
        let font = self.font(face);
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            for word in para.split(' ') {
                let candidate = if line.is_empty() { word.to_string() } else { format!("{line} {word}") };
                if font.width(&candidate, size) <= width {
                    line = candidate;
                    continue;
                }
                if !line.is_empty() {
                    lines.push(std::mem::take(&mut line));
                }
                // A word wider than the column: cut it.
                let mut piece = String::new();
                for c in word.chars() {
                    piece.push(c);
                    if font.width(&piece, size) > width && piece.chars().count() > 1 {
                        let last = piece.pop().expect("two chars");
                        lines.push(std::mem::take(&mut piece));
                        piece.push(last);
                    }
                }
                line = piece;
            }
            lines.push(line);
        }
        lines
    }

    fn paragraph(&mut self, text: &str, face: Face, size: f32) {
        let lh = size * 1.35;
        for l in self.wrap(text, face, size, W - 2.0 * MARGIN) {
            self.ensure(lh);
            self.y -= lh;
            self.text_at(MARGIN, self.y + size * 0.3, &l, face, size, (0.13, 0.13, 0.13));
        }
        self.y -= size * 0.5;
    }

    fn heading(&mut self, text: &str, size: f32, bookmark: bool) {
        self.ensure(size * 3.0 + 40.0);
        self.y -= size * 0.8;
        let lines = self.wrap(text, Face::Bold, size, W - 2.0 * MARGIN);
        for l in &lines {
            self.y -= size * 1.3;
            self.text_at(MARGIN, self.y + size * 0.3, l, Face::Bold, size, (0.1, 0.2, 0.35));
        }
        if size >= 14.0 {
            self.line(MARGIN, self.y, W - MARGIN, self.y, 0.35);
        }
        self.y -= size * 0.5;
        if bookmark {
            let page = self.pages.len();
            self.doc.add_bookmark(text, page);
        }
    }

    /// A table with wrapped cells; the header row is repeated on every page it spans.
    fn table(&mut self, t: &Table, weights: &[f32], size: f32) {
        if t.columns.is_empty() {
            return;
        }
        let total: f32 = (0..t.columns.len()).map(|i| weights.get(i).copied().unwrap_or(1.0)).sum();
        let avail = W - 2.0 * MARGIN;
        let widths: Vec<f32> =
            (0..t.columns.len()).map(|i| avail * weights.get(i).copied().unwrap_or(1.0) / total).collect();
        let pad = 3.0;
        let lh = size * 1.3;
        let layout = |w: &Writer, cells: &[String], face: Face| -> Vec<Vec<String>> {
            cells.iter().enumerate().map(|(i, c)| w.wrap(c, face, size, widths[i] - 2.0 * pad)).collect()
        };
        let header = layout(self, &t.columns, Face::Bold);
        let header_h = header.iter().map(Vec::len).max().unwrap_or(1) as f32 * lh + 2.0 * pad;
        let draw_row = |w: &mut Writer, cells: &[Vec<String>], face: Face, h: f32, shade: Option<(f32, f32, f32)>| {
            let top = w.y;
            if let Some(c) = shade {
                w.rect(MARGIN, top - h, avail, h, c);
            }
            let mut x = MARGIN;
            for (i, lines) in cells.iter().enumerate() {
                for (k, l) in lines.iter().enumerate() {
                    let y = top - pad - (k as f32 + 1.0) * lh + size * 0.3;
                    w.text_at(x + pad, y, l, face, size, (0.13, 0.13, 0.13));
                }
                x += widths[i];
            }
            w.line(MARGIN, top - h, MARGIN + avail, top - h, 0.75);
            w.y -= h;
        };
        self.ensure(header_h + lh + 2.0 * pad);
        draw_row(self, &header, Face::Bold, header_h, Some((0.93, 0.95, 0.97)));
        for row in &t.rows {
            let cells = layout(self, row, Face::Regular);
            let h = cells.iter().map(Vec::len).max().unwrap_or(1) as f32 * lh + 2.0 * pad;
            if self.y - h < BOTTOM {
                self.new_page();
                draw_row(self, &header, Face::Bold, header_h, Some((0.93, 0.95, 0.97)));
            }
            draw_row(self, &cells, Face::Regular, h, None);
        }
        self.y -= 8.0;
    }

    /// Vertical bars, as the HTML's chart of the same data.
    fn columns_chart(&mut self, title: &str, data: &[(String, u64)], color: (f32, f32, f32)) {
        let (h, left) = (130.0, 36.0);
        self.ensure(h + 40.0);
        self.text_at(MARGIN, self.y - 12.0, title, Face::Bold, 10.0, (0.13, 0.13, 0.13));
        let top = self.y - 22.0;
        let base = top - h;
        let max = data.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f32;
        let x0 = MARGIN + left;
        let width = W - 2.0 * MARGIN - left;
        let slot = width / data.len().max(1) as f32;
        self.line(x0, base, x0 + width, base, 0.35);
        self.text_at(MARGIN, top - 6.0, &format!("{}", max as u64), Face::Regular, 7.0, (0.3, 0.3, 0.3));
        self.text_at(MARGIN, base, "0", Face::Regular, 7.0, (0.3, 0.3, 0.3));
        let every = (data.len() / 8).max(1);
        for (i, (label, v)) in data.iter().enumerate() {
            let bh = *v as f32 / max * (h - 8.0);
            let x = x0 + i as f32 * slot;
            if bh > 0.0 {
                self.rect(x + slot * 0.1, base, slot * 0.8, bh, color);
            }
            if i % every == 0 {
                self.text_at(x, base - 10.0, label.get(5..).unwrap_or(label), Face::Regular, 7.0, (0.3, 0.3, 0.3));
            }
        }
        self.y = base - 22.0;
    }

    /// Horizontal bars for a few named categories.
    fn bars_chart(&mut self, title: &str, data: &[(String, u64)], color: (f32, f32, f32)) {
        let row = 14.0;
        self.ensure(row * data.len() as f32 + 34.0);
        self.text_at(MARGIN, self.y - 12.0, title, Face::Bold, 10.0, (0.13, 0.13, 0.13));
        self.y -= 22.0;
        let max = data.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f32;
        let left = 170.0;
        let width = W - 2.0 * MARGIN - left - 50.0;
        for (label, v) in data {
            self.y -= row;
            let text = self.wrap(label, Face::Regular, 8.0, left - 8.0).into_iter().next().unwrap_or_default();
            self.text_at(MARGIN, self.y + 3.0, &text, Face::Regular, 8.0, (0.13, 0.13, 0.13));
            let bw = *v as f32 / max * width;
            self.rect(MARGIN + left, self.y + 1.0, bw.max(0.5), row - 4.0, color);
            self.text_at(
                MARGIN + left + bw + 4.0,
                self.y + 3.0,
                &v.to_string(),
                Face::Regular,
                8.0,
                (0.13, 0.13, 0.13),
            );
        }
        self.y -= 12.0;
    }

    fn status_badge(&mut self, label: &str, status: &str) {
        let size = 10.0;
        let w = self.bold.width(label, size) + 10.0;
        self.ensure(20.0);
        self.y -= 16.0;
        self.rect(MARGIN, self.y - 3.0, w, 15.0, status_color(status));
        self.text_at(MARGIN + 5.0, self.y + 1.0, label, Face::Bold, size, (0.13, 0.13, 0.13));
        self.y -= 8.0;
    }

    fn finish(mut self, footer: &str) -> Vec<u8> {
        let n = self.pages.len();
        let pages: Vec<Vec<Op>> = std::mem::take(&mut self.pages);
        let mut out = Vec::new();
        for (i, mut ops) in pages.into_iter().enumerate() {
            self.pages = vec![Vec::new()];
            self.line(MARGIN, 40.0, W - MARGIN, 40.0, 0.6);
            let left =
                self.wrap(footer, Face::Regular, 7.5, W - 2.0 * MARGIN - 80.0).into_iter().next().unwrap_or_default();
            self.text_at(MARGIN, 28.0, &left, Face::Regular, 7.5, (0.35, 0.35, 0.35));
            let page = format!("Page {} of {n}", i + 1);
            let pw = self.regular.width(&page, 7.5);
            self.text_at(W - MARGIN - pw, 28.0, &page, Face::Regular, 7.5, (0.35, 0.35, 0.35));
            ops.extend(self.pages.pop().unwrap_or_default());
            out.push(PdfPage::new(printpdf::Mm(210.0), printpdf::Mm(297.0), ops));
        }
        let mut warnings = Vec::new();
        self.doc.with_pages(out).save(&PdfSaveOptions::default(), &mut warnings)
    }
}

/// Table of at most `max` rows, with a note of how many more the JSON holds.
fn capped(t: &Table, max: usize) -> (Table, usize) {
    let mut c = t.clone();
    let more = c.rows.len().saturating_sub(max);
    c.rows.truncate(max);
    (c, more)
}

/// The report as a PDF document.
pub fn render(r: &Report) -> Vec<u8> {
    let mut w = Writer::new(&format!("{} — {}", r.title, r.period_text));
    // Cover.
    w.y -= 120.0;
    w.paragraph(&r.title, Face::Bold, 24.0);
    w.paragraph(&r.description, Face::Regular, 11.0);
    w.y -= 10.0;
    let mut cover = Table::new(&["", ""]);
    cover.row(["Framework", &r.framework_name]);
    cover.row(["Period", &format!("{} (UTC)", r.period_text)]);
    cover.row(["Organisation", if r.meta.organisation.is_empty() { "-" } else { &r.meta.organisation }]);
    cover.row(["Generated at", &crate::model::time::format(&r.meta.generated_at)]);
    cover.row(["Tool", &format!("compliance-report {}", r.meta.tool_version)]);
    cover.row(["Source", &r.meta.source]);
    cover.row(["Sample seed", &r.meta.sample_seed.to_string()]);
    w.table(&cover, &[1.0, 3.0], 10.0);

    // Executive summary.
    w.new_page();
    w.heading("Executive summary", 16.0, true);
    let s = &r.summary;
    w.paragraph(
        &format!(
            "{} controls: {} satisfied, {} with exceptions, {} with insufficient evidence. {} audit events, {} agent sessions and {} resources created by agents in the period; {} anomaly findings.",
            s.controls, s.satisfied, s.exceptions, s.insufficient_evidence, s.events, s.sessions, s.resources, s.findings
        ),
        Face::Regular,
        10.0,
    );
    let mut t = Table::new(&["Control", "Title", "Result", "Exceptions"]);
    for c in &r.controls {
        t.row([c.id.clone(), c.title.clone(), c.status_label.to_string(), c.exception_count.to_string()]);
    }
    w.table(&t, &[1.0, 4.0, 1.8, 1.0], 9.0);
    w.heading("Population", 13.0, false);
    w.table(&r.population, &[3.0, 1.0], 9.0);

    w.heading("Charts", 16.0, true);
    let c = &r.charts;
    w.columns_chart("Audit events per day (UTC)", &c.events_per_day, (0.18, 0.36, 0.54));
    w.columns_chart("Exceptions per day (UTC)", &c.exceptions_per_day, (0.64, 0.2, 0.2));
    w.bars_chart("Agent sessions by status", &c.sessions_by_status, (0.18, 0.36, 0.54));
    w.bars_chart("Agent sessions by flow type", &c.sessions_by_flow, (0.29, 0.5, 0.29));

    for c in &r.controls {
        w.new_page();
        w.heading(&format!("{} — {}", c.id, c.title), 16.0, true);
        if !c.aliases.is_empty() {
            w.paragraph(&format!("Also: {}", c.aliases.join(", ")), Face::Regular, 9.0);
        }
        w.paragraph(&format!("Objective. {}", c.objective), Face::Regular, 10.0);
        w.paragraph(&format!("Exception when. {}", c.exception_rule), Face::Regular, 10.0);
        w.status_badge(&format!("Result: {}", c.status_label), c.status.key());
        for k in &c.checks {
            w.heading(&format!("Check {}: {}", k.check, k.status.key().replace('_', " ")), 12.0, false);
            w.paragraph(&format!("Rule: {} {}", k.rule, k.summary), Face::Regular, 9.5);
            if !k.evidence.rows.is_empty() {
                let (t, more) = capped(&k.evidence, 60);
                w.table(&t, &[], 8.5);
                if more > 0 {
                    w.paragraph(&format!("… {more} more rows in report.json."), Face::Regular, 8.5);
                }
            }
            if !k.exceptions.is_empty() {
                w.paragraph(&format!("Exceptions ({})", k.exceptions.len()), Face::Bold, 10.0);
                let mut t = Table::new(&["Subject", "Reason", "Time (UTC)", "Event ids"]);
                for e in &k.exceptions {
                    let mut ids = e.event_ids.join(" ");
                    if e.event_count > e.event_ids.len() as u64 {
                        ids.push_str(&format!(" … ({} in all)", e.event_count));
                    }
                    t.row([
                        e.subject.clone(),
                        e.reason.clone(),
                        e.time.as_ref().map(super::short).unwrap_or_default(),
                        ids,
                    ]);
                }
                w.table(&t, &[1.4, 3.2, 1.2, 2.6], 7.5);
            }
        }
    }

    w.new_page();
    w.heading("Traceability matrix", 16.0, true);
    w.paragraph(
        "Every agent session of the period: who initiated it, which identity acted, the authorization, and what it created.",
        Face::Regular,
        10.0,
    );
    // Portrait A4 holds seven columns: the flow, method and scopes are in the HTML and JSON.
    let mut compact = Table::new(&[
        "Session",
        "Started (UTC)",
        "Initiated by",
        "Acted as",
        "Authorized (UTC)",
        "Resources",
        "Status",
    ]);
    for row in r.traceability.rows.iter().take(400) {
        let cell = |i: usize| row.get(i).cloned().unwrap_or_default();
        let resources = cell(8);
        let n = if resources.is_empty() { 0 } else { resources.split("; ").count() };
        compact.row([cell(0), cell(1), cell(3), cell(4), cell(5), n.to_string(), cell(9)]);
    }
    w.table(&compact, &[2.6, 1.4, 1.6, 1.6, 1.4, 0.9, 1.0], 6.5);
    let shown = r.traceability.rows.len().min(400);
    if shown < r.traceability_sessions {
        w.paragraph(
            &format!(
                "{shown} of {} sessions shown ({}); every session is in traceability.csv.",
                r.traceability_sessions,
                if r.traceability.rows.len() < r.traceability_sessions {
                    "the sampled ones and the earliest with an integrity finding or without an initiating user"
                } else {
                    "the earliest"
                }
            ),
            Face::Regular,
            9.0,
        );
    }

    w.new_page();
    w.heading("Sample of sessions traced end to end", 16.0, true);
    w.paragraph(
        &format!("{} sessions drawn at random with seed {}.", r.sample.len(), r.meta.sample_seed),
        Face::Regular,
        10.0,
    );
    for smp in &r.sample {
        w.heading(&format!("Session {}", smp.session_id), 11.0, false);
        let mut t = Table::new(&["", ""]);
        t.row(["Flow", &smp.flow_type]);
        t.row(["Started (UTC)", &super::short(&smp.started_at)]);
        t.row(["Status", &smp.status]);
        t.row(["Initiated by", &smp.initiated_by]);
        t.row(["Acted as", &smp.acted_as]);
        t.row(["Authorization", &smp.authorization]);
        t.row(["Resources", &smp.resources.join("; ")]);
        if !smp.findings.is_empty() {
            t.row(["Findings", &smp.findings.join("; ")]);
        }
        w.table(&t, &[1.0, 4.0], 8.0);
        let mut tl = Table::new(&["Time (UTC)", "Event", "Actor", "Event id"]);
        for st in &smp.timeline {
            tl.row([super::short(&st.time), st.event.clone(), st.actor.clone(), st.event_id.clone()]);
        }
        w.table(&tl, &[1.3, 2.0, 1.6, 2.4], 7.0);
    }

    w.new_page();
    w.heading("Anomalies", 16.0, true);
    let mut t = Table::new(&["Heuristic", "Sev.", "Actor", "Window (UTC)", "Explanation", "Events"]);
    for f in &r.anomalies {
        t.row([
            f.heuristic.to_string(),
            f.severity.to_string(),
            format!("{} {}", f.actor_name, f.actor).trim().to_string(),
            format!("{} – {}", super::short(&f.window.from), super::short(&f.window.to)),
            format!("{} {} ({})", f.explanation, f.value, f.threshold),
            f.event_count.to_string(),
        ]);
    }
    w.table(&t, &[1.3, 0.5, 1.4, 1.8, 4.0, 0.7], 7.0);

    w.heading("Methodology", 16.0, true);
    for p in &r.methodology {
        w.paragraph(p, Face::Regular, 9.5);
    }
    w.heading("Appendix: evidence manifest", 16.0, true);
    w.paragraph(
        "This package's manifest.json lists the SHA-256 of every file (this one included) and of the canonical evidence (report.json), the source, the period and the options used, and the tool version. Check it with: compliance-report verify DIR",
        Face::Regular,
        9.5,
    );
    let footer = format!(
        "{} — {} — generated {}",
        r.framework_name,
        r.period_text,
        crate::model::time::format(&r.meta.generated_at)
    );
    w.finish(&footer)
}
