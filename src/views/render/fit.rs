//! Fitting a table into a terminal's width without showing a cut value as if it were
//! whole: `2440` for pid 24404 or `281m` for 281ms read as other numbers.
//!
//! [`fit`] gives each column its whole width, or none: when the width is too small it
//! first cuts long text (names, scoreboards) to a roomy width, then drops the least
//! important columns, then cuts text further, and drops the last-to-go columns last. A
//! column that may never be cut (a number) is shown whole or not at all. Text that was
//! cut ends with `…` ([`cut_end`]) or has it in the middle ([`cut_middle`]).

/// How wide one column wants to be, and how far it may be cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Need {
    /// Wide enough for the heading and every cell, whole.
    pub full: usize,
    /// Cut to this before any column is dropped (`full` for a column never cut).
    pub roomy: usize,
    /// Cut to this before the last-to-go columns are dropped (`full` for a column never
    /// cut).
    pub min: usize,
}

impl Need {
    /// A column shown whole or not at all: numbers, and words that read wrong when cut.
    pub fn whole(full: usize) -> Need {
        Need {
            full,
            roomy: full,
            min: full,
        }
    }
}

/// The width of each column (`None`: left out) for a table at most `width` wide, with
/// `gap` blanks between columns. `order` lists the columns by importance, the first to
/// go first; its last `keep` columns go only once every other column has gone and cut
/// columns are at their `min`; the very last is never left out, but takes what is left
/// when even it does not fit. Columns missing from `order` are never cut nor dropped.
pub fn fit(
    needs: &[Need],
    order: &[usize],
    keep: usize,
    width: usize,
    gap: usize,
) -> Vec<Option<usize>> {
    let mut widths: Vec<Option<usize>> = needs.iter().map(|n| Some(n.full)).collect();
    let order: Vec<usize> = order.iter().copied().filter(|&i| i < needs.len()).collect();
    let (others, kept) = order.split_at(order.len().saturating_sub(keep));
    shrink(&mut widths, needs, &order, |n| n.roomy, width, gap);
    drop_until_fit(&mut widths, others, width, gap);
    shrink(&mut widths, needs, &order, |n| n.min, width, gap);
    drop_until_fit(
        &mut widths,
        kept.split_last().map_or(&[], |(_, rest)| rest),
        width,
        gap,
    );
    if let Some(&last) = order.last() {
        let over = total(&widths, gap).saturating_sub(width);
        if let Some(w) = widths[last].as_mut() {
            *w = w.saturating_sub(over);
        }
    }
    // Dropping a wide column may have freed more room than needed: cut text gets it
    // back, the most important first.
    for &i in order.iter().rev() {
        let spare = width.saturating_sub(total(&widths, gap));
        if let Some(w) = widths[i].as_mut() {
            *w += spare.min(needs[i].full.saturating_sub(*w));
        }
    }
    widths
}

/// The width of the shown columns and the gaps between them.
fn total(widths: &[Option<usize>], gap: usize) -> usize {
    let shown: Vec<usize> = widths.iter().flatten().copied().collect();
    shown.iter().sum::<usize>() + gap * shown.len().saturating_sub(1)
}

/// Cuts the shown columns, in `order`, toward `to(need)`, as far as the table is too wide.
fn shrink(
    widths: &mut [Option<usize>],
    needs: &[Need],
    order: &[usize],
    to: impl Fn(&Need) -> usize,
    width: usize,
    gap: usize,
) {
    for &i in order {
        let over = total(widths, gap).saturating_sub(width);
        if let Some(w) = widths[i].as_mut() {
            *w -= over.min(w.saturating_sub(to(&needs[i])));
        }
    }
}

/// Leaves out the columns of `order`, one by one, until the table fits.
fn drop_until_fit(widths: &mut [Option<usize>], order: &[usize], width: usize, gap: usize) {
    for &i in order {
        if total(widths, gap) <= width {
            return;
        }
        widths[i] = None;
    }
}

/// `text` in at most `width` characters: whole, or its start and `…`.
pub fn cut_end(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push('…');
    cut
}

/// `text` in at most `width` characters: whole, or its start, `…` and its end. For names,
/// which often differ only at the end (`svc-1`, `svc-2`): cut at the end they would look
/// the same.
pub fn cut_middle(text: &str, width: usize) -> String {
    let count = text.chars().count();
    if count <= width {
        return text.to_string();
    }
    if width < 3 {
        return cut_end(text, width);
    }
    let head = (width - 1) / 2;
    let tail = width - 1 - head;
    let mut cut: String = text.chars().take(head).collect();
    cut.push('…');
    cut.extend(text.chars().skip(count - tail));
    cut
}

/// `text` wrapped into lines of at most `width` characters, at spaces where it can be
/// (a word longer than a line is cut across lines): for a message that must be read
/// whole, such as a warning, where [`cut_end`] would lose its end.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut len = 0;
    for word in text.split_whitespace() {
        let mut word: Vec<char> = word.chars().collect();
        if len > 0 && len + 1 + word.len() <= width {
            line.push(' ');
            line.extend(&word);
            len += 1 + word.len();
            continue;
        }
        if len > 0 {
            lines.push(std::mem::take(&mut line));
        }
        while word.len() > width {
            lines.push(word.drain(..width).collect());
        }
        len = word.len();
        line = word.into_iter().collect();
    }
    if len > 0 {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_only_a_word_longer_than_a_line() {
        assert_eq!(wrap("a bb ccc dddd", 6), ["a bb", "ccc", "dddd"]);
        assert_eq!(wrap("run `chmod 700 /x`", 40), ["run `chmod 700 /x`"]);
        assert_eq!(
            wrap("/a/very/long/path x", 6),
            ["/a/ver", "y/long", "/path", "x"]
        );
        assert!(wrap("", 10).is_empty());
    }

    proptest! {
        #[test]
        fn wrapped_lines_fit_and_keep_every_word(text in "[a-z ]{0,80}", width in 1usize..30) {
            let lines = wrap(&text, width);
            prop_assert!(lines.iter().all(|l| l.chars().count() <= width));
            let joined: String = lines.concat();
            let want: String = text.split_whitespace().collect();
            prop_assert_eq!(joined.replace(' ', ""), want);
        }
    }

    /// name (text), status, pid, rate (numbers).
    fn needs(name: usize) -> Vec<Need> {
        vec![
            Need {
                full: name,
                roomy: name.min(12),
                min: name.min(6),
            },
            Need::whole(7),
            Need::whole(7),
            Need::whole(7),
        ]
    }
    /// pid first to go, then rate, then status; the name last.
    const ORDER: [usize; 4] = [2, 3, 1, 0];

    #[test]
    fn everything_fits_whole_when_there_is_room() {
        assert_eq!(
            fit(&needs(10), &ORDER, 2, 100, 1),
            [Some(10), Some(7), Some(7), Some(7)]
        );
        // Exactly wide enough: 10 + 3 * 7 + 3 gaps.
        assert_eq!(
            fit(&needs(10), &ORDER, 2, 34, 1),
            [Some(10), Some(7), Some(7), Some(7)]
        );
    }

    #[test]
    fn the_least_important_columns_go_first_and_numbers_are_never_cut() {
        // One short: the pid goes whole, not one digit of it.
        assert_eq!(
            fit(&needs(10), &ORDER, 2, 33, 1),
            [Some(10), Some(7), None, Some(7)]
        );
        assert_eq!(
            fit(&needs(10), &ORDER, 2, 25, 1),
            [Some(10), Some(7), None, None]
        );
    }

    #[test]
    fn long_text_is_cut_to_roomy_before_a_column_goes() {
        // 30 + 3 * 7 + 3 = 54; with the name at 12 it is 36.
        assert_eq!(
            fit(&needs(30), &ORDER, 2, 36, 1),
            [Some(12), Some(7), Some(7), Some(7)]
        );
        // Only as far as needed.
        assert_eq!(
            fit(&needs(30), &ORDER, 2, 40, 1),
            [Some(16), Some(7), Some(7), Some(7)]
        );
    }

    #[test]
    fn the_last_to_go_stay_while_text_can_still_be_cut() {
        // Name and status: 10 + 1 + 7 = 18. At 16 the name is cut to 8, at 14 to its min 6.
        assert_eq!(
            fit(&needs(10), &ORDER, 2, 16, 1),
            [Some(8), Some(7), None, None]
        );
        assert_eq!(
            fit(&needs(10), &ORDER, 2, 14, 1),
            [Some(6), Some(7), None, None]
        );
        // Then the status goes, and the name gets the room back.
        assert_eq!(
            fit(&needs(10), &ORDER, 2, 13, 1),
            [Some(10), None, None, None]
        );
        // The name is never dropped: it takes what there is.
        assert_eq!(
            fit(&needs(10), &ORDER, 2, 4, 1),
            [Some(4), None, None, None]
        );
        assert_eq!(
            fit(&needs(10), &ORDER, 2, 0, 1),
            [Some(0), None, None, None]
        );
    }

    #[test]
    fn room_freed_by_a_dropped_column_goes_back_to_cut_text() {
        // The name (30) is cut to 12, still too wide by 1; the pid goes, freeing 8.
        let widths = fit(&needs(30), &ORDER, 2, 35, 1);
        assert_eq!(widths, [Some(19), Some(7), None, Some(7)]);
    }

    #[test]
    fn an_order_naming_no_column_or_a_column_that_does_not_exist_is_harmless() {
        assert_eq!(fit(&needs(10), &[], 2, 5, 1).len(), 4);
        assert_eq!(
            fit(&needs(10), &[9, 2], 0, 25, 1),
            [Some(10), Some(7), None, Some(7)]
        );
    }

    #[test]
    fn cut_text_is_marked() {
        assert_eq!(cut_end("secondaries", 20), "secondaries");
        assert_eq!(cut_end("3/3 ___W__", 6), "3/3 _…");
        assert_eq!(cut_end("abc", 1), "…");
        assert_eq!(cut_end("abc", 0), "");
        assert_eq!(cut_middle("t-top-1234-0", 12), "t-top-1234-0");
        assert_eq!(cut_middle("t-top-1234-0", 8), "t-t…34-0");
        assert_eq!(cut_middle("t-top-1234-1", 8), "t-t…34-1");
        assert_eq!(cut_middle("abcdef", 2), "a…");
    }

    proptest! {
        #[test]
        fn a_fitted_table_is_never_wider_than_allowed_and_never_cuts_a_number(
            name in 1usize..70,
            numbers in proptest::collection::vec(1usize..25, 0..9),
            width in 0usize..200,
        ) {
            let mut needs = vec![Need { full: name, roomy: name.min(24), min: name.min(8) }];
            needs.extend(numbers.iter().map(|&n| Need::whole(n)));
            let order: Vec<usize> = (1..needs.len()).chain([0]).collect();
            let widths = fit(&needs, &order, 1, width, 1);
            prop_assert!(widths[0].is_some(), "the name is never dropped");
            if needs[0].min <= width {
                prop_assert!(total(&widths, 1) <= width, "{widths:?}");
            }
            for (w, n) in widths.iter().zip(&needs).skip(1) {
                prop_assert!(w.is_none_or(|w| w == n.full), "a number cut: {widths:?}");
            }
        }

        #[test]
        fn cut_text_fits_its_width(text in "[a-z0-9_-]{0,64}", width in 0usize..70) {
            prop_assert!(cut_end(&text, width).chars().count() <= width);
            prop_assert!(cut_middle(&text, width).chars().count() <= width);
        }
    }
}
