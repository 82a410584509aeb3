//! The contract as its readers and consumers see it: the checked-in document
//! (generated from the trait, and faithful to Hybridbox's published page), the
//! third-party tools that lint it, generate clients from it and fuzz the server
//! against it, the client on its own, and the reference page.

mod authorizations_contract;
mod client_alone;
mod contract_tools;
mod documentation;
mod openapi_document;
mod reference_page;
mod seed_contract;
