//! Bar charts as self-contained SVG (no script, no external font or link): one renderer the
//! HTML embeds inline. Labels are escaped; sizes are fixed so output is byte-stable.

/// Escape text for XML.
pub fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// Vertical bars (many categories, e.g. days): every `label_every`-th label is written.
pub fn columns(title: &str, data: &[(String, u64)], color: &str) -> String {
    let (w, h, left, bottom, top) = (720.0_f64, 220.0_f64, 48.0_f64, 40.0_f64, 24.0_f64);
    let max = data.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f64;
    let n = data.len().max(1) as f64;
    let slot = (w - left - 8.0) / n;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"10\">\n<text x=\"{left}\" y=\"14\" font-size=\"12\" font-weight=\"bold\">{t}</text>\n",
        t = xml(title)
    );
    let base = h - bottom;
    o.push_str(&format!("<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#555\"/>\n", w - 8.0));
    o.push_str(&format!("<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\n", left - 4.0, top + 4.0, max as u64));
    o.push_str(&format!("<text x=\"{}\" y=\"{base}\" text-anchor=\"end\">0</text>\n", left - 4.0));
    let every = (data.len() / 8).max(1);
    for (i, (label, v)) in data.iter().enumerate() {
        let bh = (*v as f64 / max) * (base - top);
        let x = left + i as f64 * slot;
        o.push_str(&format!(
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"><title>{}: {v}</title></rect>\n",
            x + slot * 0.1,
            base - bh,
            slot * 0.8,
            bh,
            xml(label)
        ));
        if i % every == 0 {
            o.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
                x + slot / 2.0,
                base + 14.0,
                xml(label.get(5..).unwrap_or(label))
            ));
        }
    }
    o.push_str("</svg>");
    o
}

/// Horizontal bars (few categories with long names).
pub fn bars(title: &str, data: &[(String, u64)], color: &str) -> String {
    let (w, row, left, top) = (720.0_f64, 20.0_f64, 200.0_f64, 24.0_f64);
    let h = top + row * data.len().max(1) as f64 + 8.0;
    let max = data.iter().map(|d| d.1).max().unwrap_or(0).max(1) as f64;
    let mut o = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{t}\" font-family=\"DejaVu Sans, sans-serif\" font-size=\"10\">\n<text x=\"0\" y=\"14\" font-size=\"12\" font-weight=\"bold\">{t}</text>\n",
        t = xml(title)
    );
    for (i, (label, v)) in data.iter().enumerate() {
        let y = top + i as f64 * row;
        let bw = (*v as f64 / max) * (w - left - 60.0);
        o.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n<rect x=\"{left}\" y=\"{:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{color}\"/>\n<text x=\"{:.1}\" y=\"{:.1}\">{v}</text>\n",
            left - 6.0,
            y + row * 0.65,
            xml(label),
            y + 3.0,
            row - 6.0,
            left + bw + 4.0,
            y + row * 0.65
        ));
    }
    o.push_str("</svg>");
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_and_output_is_exact() {
        let svg = bars("Flows <b>", &[("a&b".into(), 2), ("c".into(), 1)], "#36c");
        assert!(svg.contains("aria-label=\"Flows &lt;b&gt;\""));
        assert!(svg.contains(">a&amp;b</text>"));
        assert!(!svg.contains("<b>"));
        assert_eq!(svg.lines().nth(2).unwrap(), "<text x=\"194.0\" y=\"37.0\" text-anchor=\"end\">a&amp;b</text>");
        let cols = columns("Events", &[("2026-10-01".into(), 4), ("2026-10-02".into(), 0)], "#36c");
        assert!(cols.contains("<title>2026-10-01: 4</title>") && cols.contains(">10-01</text>"));
    }
}
