//! Compile errors of `tag_tree!`: a name that is both a leaf and a branch, a duplicate name, and a
//! leaf argument that is not a segment (floats).

#[test]
fn tag_tree_refuses_ambiguous_trees() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
